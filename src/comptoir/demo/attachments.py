"""Files for the demo's conversations: a buyer's photo of a damaged parcel (a small PNG) and the
shop's PDF invoice. Both are made here, from the seed, with the standard library only: the
demo ships no binary files and needs no imaging library."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Sequence
from datetime import datetime
from functools import cache

WIDTH, HEIGHT = 160, 120
_CARDBOARD = (193, 154, 107)
_TAPE = (222, 205, 160)
_SHADOW = (92, 66, 40)
_FLOOR = (120, 120, 118)


@cache
def damaged_parcel_png(seed: int) -> bytes:
    """A parcel on the floor, taped, with a crushed corner and a tear: what a buyer
    photographs when it arrives damaged. The same seed gives the same bytes."""
    rng = random.Random(seed)
    # The box's edges, a little different on each photo.
    left, top = rng.randint(14, 26), rng.randint(12, 22)
    right, bottom = WIDTH - rng.randint(14, 26), HEIGHT - rng.randint(10, 20)
    dent = rng.randint(22, 36)  # the crushed corner, top right
    tear = {
        (left + 10 + i * 4 + dx, top + 30 + int(8 * rng.random()) + i + dy)
        for i in range(12)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
    }
    grain = rng.randbytes(WIDTH * HEIGHT)  # the grain of a phone photo
    pixels = bytearray()
    for y in range(HEIGHT):
        pixels.append(0)  # PNG filter type "None" for this row
        for x in range(WIDTH):
            colour = _FLOOR
            if left <= x <= right and top <= y <= bottom:
                colour = _CARDBOARD
                if abs(y - (top + bottom) // 2) <= 5:
                    colour = _TAPE
                if (right - x) + (y - top) < dent or (x, y) in tear:
                    colour = _SHADOW  # crushed in, torn
            shade = grain[y * WIDTH + x] % 13 - 6
            pixels.extend(max(0, min(255, c + shade)) for c in colour)
    return _png(WIDTH, HEIGHT, bytes(pixels))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def invoice_pdf(
    *,
    number: str,
    shop: str,
    customer: str,
    order: str,
    issued: datetime,
    lines: Sequence[tuple[str, int, str]],
    total: str,
) -> bytes:
    """A one-page PDF invoice: `lines` are (title, quantity, line total in euros)."""
    text = [
        (18, f"{shop}"),
        (11, "Facture / Invoice"),
        (11, f"N° {number}  -  {issued:%d/%m/%Y}"),
        (11, f"Client : {customer}"),
        (11, f"Commande : {order}"),
        (11, ""),
    ]
    text += [(11, f"{qty} x {title}  ....  {amount} EUR") for title, qty, amount in lines]
    text += [(11, ""), (12, f"Total TTC : {total} EUR"), (9, "TVA 20 % incluse.")]
    stream = bytearray(b"BT\n50 790 Td\n")
    for size, line in text:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream += f"/F1 {size} Tf\n({escaped}) Tj\n0 -{size + 8} Td\n".encode("cp1252", "replace")
    stream += b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + bytes(stream) + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
