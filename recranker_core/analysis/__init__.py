"""What the dashboard and the stakeholder report show: charts, position bias, slices, user stories."""
