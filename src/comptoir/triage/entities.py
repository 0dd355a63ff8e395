# TEMP STUB (replaced by the entities branch)
import re


def extract(text, *, hint="", shop_order=None, today=None):
    return [m.group() for m in re.finditer(r"\b\d{3}-\d{7}-\d{7}\b", text)]


def to_json(found):
    return [{"kind": "order", "value": v, "source": "amazon"} for v in found]
