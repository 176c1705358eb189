"""The reference vehicle client. No Django import: tests, simulators and downstream suites."""
