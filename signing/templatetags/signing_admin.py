from django import template

from signing.repository import expiry_warnings

register = template.Library()


@register.simple_tag
def tuf_expiry_warnings() -> list[str]:
    return expiry_warnings()
