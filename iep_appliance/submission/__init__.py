"""The SMTP submission edge (issue 15): aiosmtpd in the appliance's event loop."""
