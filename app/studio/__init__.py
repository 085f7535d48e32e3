"""Pure functions behind the dashboard pages: run directories in, DataFrames and figures out."""
