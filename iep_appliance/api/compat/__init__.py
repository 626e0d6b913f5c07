"""Hosted-provider compatible APIs (DESIGN §10.2): Resend under /compat/resend, Postmark at /."""
