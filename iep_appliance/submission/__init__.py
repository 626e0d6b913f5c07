"""The SMTP submission edge: aiosmtpd in the appliance's event loop."""
