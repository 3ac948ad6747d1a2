"""QR codes as inline SVG, so a wall can hand its desk view to a phone."""

import qrcode
import qrcode.image.svg


def svg(text: str) -> str:
    """Return an SVG element (no XML prolog) encoding ``text`` as a QR code."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    markup = image.to_string(encoding="unicode")
    return markup[markup.index("<svg"):]
