"""Which HTTP mutation is which audit action (DESIGN §10.5): one table for the API
and the dashboard, read by the audit trail (audit_trail.py) for every non-GET request.

Key: (method, Litestar path template). Value: (action, target type, where the target id is:
a path parameter's name, "@id" for the `id` of the JSON response, or "" for none). Sends are
not audited (they are the product's traffic and have their own events); `EXEMPT` lists them,
and tests/unit/test_audit_rules.py fails on a mutating route in neither table, so a new
route is one line here. The dashboard's forms under one tenant's pages are all POSTs to
`/admin/tenants/{tenant_id}/…`, written `_tenant("/…")`.
"""

Rule = tuple[str, str, str]


def _tenant(path: str) -> tuple[str, str]:
    """The key of a dashboard form posted under one tenant's pages."""
    return ("POST", "/admin/tenants/{tenant_id}" + path)


RULES: dict[tuple[str, str], Rule] = {
    # ---- /v1 (actor: the API key)
    ("POST", "/v1/messages/{message_id}/retry"): ("message.retried", "message", "message_id"),
    ("POST", "/v1/messages/{message_id}/cancel"): ("message.cancelled", "message", "message_id"),
    ("POST", "/v1/batches/{batch_id}/cancel"): ("batch.cancelled", "batch", "batch_id"),
    ("POST", "/v1/suppressions"): ("suppression.added", "suppression", ""),
    ("DELETE", "/v1/suppressions/{email}"): ("suppression.removed", "suppression", "email"),
    ("POST", "/v1/api-keys"): ("api_key.created", "apiKey", "@id"),
    ("PATCH", "/v1/api-keys/{key_id}"): ("api_key.updated", "apiKey", "key_id"),
    ("DELETE", "/v1/api-keys/{key_id}"): ("api_key.revoked", "apiKey", "key_id"),
    ("POST", "/v1/api-keys/{key_id}/rotate"): ("api_key.rotated", "apiKey", "key_id"),
    ("POST", "/v1/domains"): ("domain.added", "domain", "@id"),
    ("DELETE", "/v1/domains/{domain}"): ("domain.removed", "domain", "domain"),
    ("POST", "/v1/domains/{domain}/verify"): ("domain.verify_requested", "domain", "domain"),
    ("POST", "/v1/domains/{domain}/dkim/rotate"): ("domain.dkim_rotated", "domain", "domain"),
    ("PATCH", "/v1/tenant"): ("tenant.settings_updated", "tenant", ""),
    ("POST", "/v1/webhooks"): ("webhook.created", "webhook", "@id"),
    ("PUT", "/v1/webhooks/{webhook_id}"): ("webhook.updated", "webhook", "webhook_id"),
    ("DELETE", "/v1/webhooks/{webhook_id}"): ("webhook.deleted", "webhook", "webhook_id"),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): (
        "webhook.delivery_retried",
        "webhookDelivery",
        "delivery_id",
    ),
    ("POST", "/v1/scheduled-jobs"): ("scheduled_job.created", "scheduledJob", "@id"),
    ("PATCH", "/v1/scheduled-jobs/{job_id}"): ("scheduled_job.updated", "scheduledJob", "job_id"),
    ("DELETE", "/v1/scheduled-jobs/{job_id}"): ("scheduled_job.deleted", "scheduledJob", "job_id"),
    ("POST", "/v1/scheduled-jobs/{job_id}/run"): ("scheduled_job.run", "scheduledJob", "job_id"),
    ("POST", "/v1/queues"): ("queue.created", "queue", "@id"),
    ("PATCH", "/v1/queues/{queue_id}"): ("queue.updated", "queue", "queue_id"),
    ("DELETE", "/v1/queues/{queue_id}"): ("queue.deleted", "queue", "queue_id"),
    ("POST", "/v1/queues/{queue_id}/pause"): ("queue.paused", "queue", "queue_id"),
    ("POST", "/v1/queues/{queue_id}/resume"): ("queue.resumed", "queue", "queue_id"),
    ("POST", "/v1/queues/{queue_id}/drain"): ("queue.drained", "queue", "queue_id"),
    ("DELETE", "/v1/outbox"): ("outbox.cleared", "outbox", ""),
    ("PATCH", "/compat/resend/emails/{email_id}"): ("message.rescheduled", "message", "email_id"),
    ("POST", "/compat/resend/emails/{email_id}/cancel"): (
        "message.cancelled",
        "message",
        "email_id",
    ),
    ("DELETE", "/v1/gdpr/{email}"): ("gdpr.erase_requested", "gdprRequest", "@requestId"),
    # ---- /admin (actor: the signed-in operator)
    ("POST", "/admin/login"): ("operator.login", "operator", ""),  # the handler notes outcome
    ("POST", "/admin/logout"): ("operator.logout", "operator", ""),
    ("POST", "/admin/messages/{message_id}/retry"): ("message.retried", "message", "message_id"),
    ("POST", "/admin/messages/retry"): ("message.retried", "message", ""),
    ("POST", "/admin/messages/{message_id}/cancel"): ("message.cancelled", "message", "message_id"),
    ("POST", "/admin/tenants"): ("tenant.created", "tenant", ""),
    _tenant("/settings"): ("tenant.settings_updated", "tenant", "tenant_id"),
    _tenant("/deactivate"): ("tenant.deactivated", "tenant", "tenant_id"),
    _tenant("/activate"): ("tenant.activated", "tenant", "tenant_id"),
    _tenant("/domains"): ("domain.added", "domain", ""),
    _tenant("/domains/remove"): ("domain.removed", "domain", ""),
    _tenant("/reputation/resume"): ("tenant.resumed", "tenant", "tenant_id"),
    _tenant("/domains/{domain}/verify"): ("domain.verify_requested", "domain", "domain"),
    _tenant("/keys"): ("api_key.created", "apiKey", ""),
    _tenant("/keys/{key_id}/rotate"): ("api_key.rotated", "apiKey", "key_id"),
    _tenant("/keys/{key_id}/revoke"): ("api_key.revoked", "apiKey", "key_id"),
    _tenant("/keys/{key_id}/allowlist"): ("api_key.updated", "apiKey", "key_id"),
    _tenant("/webhooks"): ("webhook.created", "webhook", ""),
    _tenant("/webhooks/{endpoint_id}/disable"): ("webhook.disabled", "webhook", "endpoint_id"),
    _tenant("/webhooks/{endpoint_id}/enable"): ("webhook.enabled", "webhook", "endpoint_id"),
    _tenant("/webhooks/{endpoint_id}/delete"): ("webhook.deleted", "webhook", "endpoint_id"),
    _tenant("/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend"): (
        "webhook.delivery_retried",
        "webhookDelivery",
        "delivery_id",
    ),
    _tenant("/suppressions"): ("suppression.added", "suppression", ""),
    _tenant("/suppressions/remove"): ("suppression.removed", "suppression", ""),
    _tenant("/suppressions/import"): ("suppression.imported", "suppression", ""),
    _tenant("/queues/{queue_id}/{action}"): ("queue.{action}", "queue", "queue_id"),
    _tenant("/jobs/{job_id}/pause"): ("scheduled_job.paused", "scheduledJob", "job_id"),
    _tenant("/jobs/{job_id}/resume"): ("scheduled_job.resumed", "scheduledJob", "job_id"),
    _tenant("/jobs/{job_id}/delete"): ("scheduled_job.deleted", "scheduledJob", "job_id"),
    ("POST", "/admin/users"): ("operator.created", "operator", ""),
    ("POST", "/admin/users/{user_id}/role"): ("operator.role_changed", "operator", "user_id"),
    ("POST", "/admin/users/{user_id}/delete"): ("operator.deleted", "operator", "user_id"),
    ("POST", "/admin/queue/retry"): ("job.retried", "job", ""),
    ("POST", "/admin/queue/discard"): ("job.discarded", "job", ""),
    _tenant("/gdpr/erase"): ("gdpr.erase_requested", "gdprRequest", ""),
    # ---- a tenant's own providers (API and dashboard)
    ("POST", "/v1/providers"): ("provider.created", "provider", "@id"),
    ("PATCH", "/v1/providers/{provider_id}"): ("provider.updated", "provider", "provider_id"),
    ("DELETE", "/v1/providers/{provider_id}"): ("provider.deleted", "provider", "provider_id"),
    ("POST", "/v1/providers/{provider_id}/test"): ("provider.tested", "provider", "provider_id"),
    _tenant("/providers"): ("provider.created", "provider", ""),
    _tenant("/providers/{provider_id}/delete"): ("provider.deleted", "provider", "provider_id"),
    _tenant("/providers/{provider_id}/test"): ("provider.tested", "provider", "provider_id"),
    # ---- stored templates (API and dashboard)
    ("POST", "/v1/templates"): ("template.created", "template", "@id"),
    ("PUT", "/v1/templates/{template_id}"): ("template.updated", "template", "template_id"),
    ("DELETE", "/v1/templates/{template_id}"): ("template.deleted", "template", "template_id"),
    _tenant("/templates"): ("template.created", "template", ""),
    _tenant("/templates/{template_id}"): ("template.updated", "template", "template_id"),
    _tenant("/templates/{template_id}/delete"): ("template.deleted", "template", "template_id"),
    _tenant("/templates/{template_id}/test"): ("template.test_sent", "template", "template_id"),
}

# Mutating routes that are not audited: sends (their own events and webhooks record them) and
# the recipient's unsubscribe click (no actor).
EXEMPT: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/batch"),
        ("POST", "/compat/resend/emails"),
        ("POST", "/compat/resend/emails/batch"),
        ("POST", "/email"),
        ("POST", "/email/batch"),
        ("POST", "/u/{token}"),
        # providers' event webhooks: signed news from SES/SendGrid/Mailgun, no actor
        ("POST", "/webhooks/{kind}"),
        ("POST", "/webhooks/{kind}/{name}"),
        # previews render a draft and change nothing
        ("POST", "/v1/templates/{template_id}/preview"),
        _tenant("/templates/preview"),
    }
)
