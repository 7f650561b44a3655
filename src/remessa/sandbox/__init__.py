"""Simulators of the partners' servers, for users trying remessa out and for the test suite."""
