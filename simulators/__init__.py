"""Local stand-ins for remote systems: loopback servers for the tests and the demo."""
