"""Secure processing of user-uploaded profile images.

``POST /users/me/profile-image`` accepts a multipart ``file`` the SPA says is JPEG, PNG, GIF or
WebP of at most 10 MB. Neither the SPA check nor the declared content type nor the filename can
be trusted, and an image decoder is the most exposed parser the backend runs. So the upload is
never stored or served as it came: :func:`process_profile_image` checks it, decodes it once and
*re-encodes* fresh square WebP renditions. What is stored and served is therefore always pixels
we produced, which

* removes every piece of metadata (EXIF including GPS position, camera serial and timestamps,
  XMP, IPTC, comments, embedded thumbnails) because nothing is copied, only pixels;
* defuses polyglots (a file that is both a JPEG and an HTML page or a ZIP) and trailing payloads,
  because no input byte reaches the output;
* gives the ``GET /upload/file/{key}`` route one known content type (``image/webp``) to serve.

Checks, cheapest first, each with a stable :attr:`ImageRejected.code` the API maps to a 4xx:

=========================  ==================================================================
``IMAGE_EMPTY``            no bytes at all.
``IMAGE_TOO_LARGE``        more bytes than ``max_bytes`` (default 10 MiB, the contract's limit).
``IMAGE_UNSUPPORTED_TYPE`` the *content* does not start with a JPEG, PNG, GIF or WebP signature.
                           The declared type and filename are never consulted: a PNG sent as
                           ``image/jpeg`` is fine, a text file named ``x.jpg`` is not.
``IMAGE_TOO_MANY_PIXELS``  the header declares more than ``max_pixels`` (default 40 megapixels).
                           Checked from the header *before* any pixel is decoded, because a few
                           kilobytes of PNG or GIF can declare gigabytes of pixels.
``IMAGE_TOO_SMALL``        either side under ``min_side`` (default 32) pixels: nothing
                           recognisable survives, and it is a favourite of tracking-pixel spam.
``IMAGE_UNDECODABLE``      the decoder fails: corrupt, truncated, or not what its signature says.
=========================  ==================================================================

Choices worth knowing:

* **Pixel limit independent of Pillow's global.** ``PIL.Image.MAX_IMAGE_PIXELS`` is
  process-wide state (about 89 Mpx warns, twice that raises); this module neither reads nor
  changes it. Its own, lower limit is checked on the lazily opened image's ``size``. Pillow's
  ``DecompressionBombError`` (and ``DecompressionBombWarning`` when warnings are configured as
  errors) are mapped to ``IMAGE_TOO_MANY_PIXELS`` as well, without touching the warning filters
  (``warnings.catch_warnings`` is not thread-safe and this runs in a thread pool).
* **Only the sniffed format's decoder runs** (``Image.open(..., formats=[sniffed])``), so a file
  cannot start with a PNG signature and then be handed to some other, less hardened plugin.
* **Truncated files are rejected**, not padded with grey: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is
  left at its default (``False``) and is not touched here.
* **EXIF orientation is applied, then all metadata is dropped.** Phones store portrait photos as
  landscape pixels plus an orientation tag; once the tag is gone the pixels must already be
  upright. XMP orientation is honoured as well (Pillow reads it into ``getexif()``).
* **Colour: embedded ICC profiles are converted to sRGB, then dropped.** Output carries no ICC
  profile, which browsers read as sRGB; converting first keeps Display-P3 (iPhone), Adobe RGB
  and CMYK uploads from looking washed out or garish. If the profile cannot be parsed it is
  ignored and the pixels are taken as sRGB - a colour shift is better than refusing a photo.
* **Animated GIF/WebP: first frame only.** Avatars are stills; the other frames are never
  decoded, which also bounds the work an animation can cause.
* **Transparency is kept** (palette transparency becomes RGBA; resampling is premultiplied by
  Pillow so edges do not fringe), and an alpha channel that is fully opaque is dropped so the
  common case encodes smaller.
* **Square centre crop, never upscaled.** Each requested size ``s`` becomes
  ``min(s, shorter source side)`` pixels square: upscaling only adds bytes, not detail. The crop is
  taken before the orientation transform (cheaper: only the small result is rotated); a centre
  square maps to the centre square under every EXIF rotation/flip, give or take one pixel when
  the sides differ by an odd number.
* **Speed.** JPEGs are decoded with libjpeg's DCT scaling (``Image.draft``) straight to the
  smallest power-of-two reduction that still has at least twice the largest rendition on its
  shorter side (the same 2x margin ``Image.thumbnail`` uses), so a 12-megapixel photo is never
  decoded at full size and the final LANCZOS step still does real filtering. The square is
  cropped before any mode conversion, the orientation transpose is applied to the largest
  rendition only, and smaller renditions are resampled from the largest.
  Measured on the development machine (2 vCPU AMD EPYC VM shared with other jobs, load average
  1.5-3.5; Pillow 13.0, libwebp 1.6, libjpeg-turbo) for a 4000x3000 quality-90 JPEG of 3.0 MB
  with sizes ``(512, 256, 96)``: **~140-170 ms best case, ~180-280 ms median** per call (up to
  ~380 ms median when the machine is saturated), of which decoding is about half and
  resampling and WebP encoding a quarter each. Without the draft step the same call takes
  ~350-450 ms; with a 1x margin instead of 2x, ~95-130 ms at a PSNR cost of about 2 dB before
  encoding (both above 44 dB against a full-resolution reference). A 4000x3000 RGBA PNG
  (12.5 MB, so only with a raised ``max_bytes``; PNG has no scaled decoding) takes ~0.7-1 s,
  and a 40-megapixel image, the pixel limit, proportionally more.
* **Deterministic.** Same bytes in, same bytes out (no timestamps, no randomness, fixed encoder
  settings), so re-processing is idempotent and results can be compared in tests.

Residual risk, out of scope here: a small progressive JPEG with thousands of scans can cost CPU
out of proportion to its size; the caller's request/worker timeout bounds that.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageCms

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "DEFAULT_SIZES",
    "IMAGE_EMPTY",
    "IMAGE_TOO_LARGE",
    "IMAGE_TOO_MANY_PIXELS",
    "IMAGE_TOO_SMALL",
    "IMAGE_UNDECODABLE",
    "IMAGE_UNSUPPORTED_TYPE",
    "OUTPUT_CONTENT_TYPE",
    "WEBP_METHOD",
    "WEBP_QUALITY",
    "ImageRejected",
    "Rendition",
    "process_profile_image",
    "sniff_format",
]

IMAGE_EMPTY: Final = "IMAGE_EMPTY"
IMAGE_TOO_LARGE: Final = "IMAGE_TOO_LARGE"
IMAGE_UNSUPPORTED_TYPE: Final = "IMAGE_UNSUPPORTED_TYPE"
IMAGE_UNDECODABLE: Final = "IMAGE_UNDECODABLE"
IMAGE_TOO_MANY_PIXELS: Final = "IMAGE_TOO_MANY_PIXELS"
IMAGE_TOO_SMALL: Final = "IMAGE_TOO_SMALL"

DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
"""The contract's ``<= 10 MB`` for ``POST /users/me/profile-image``, read as MiB."""

DEFAULT_MAX_PIXELS: Final = 40_000_000
"""Above any phone camera in use (48 Mpx sensors save 12 Mpx by default) and bounds memory:
a fully decoded RGBA image of this size is 160 MB."""

DEFAULT_MIN_SIDE: Final = 32
DEFAULT_SIZES: Final = (512, 256, 96)

OUTPUT_CONTENT_TYPE: Final = "image/webp"
WEBP_QUALITY: Final = 82
"""Visually clean for photos at avatar sizes; about a third smaller than quality 95."""
WEBP_METHOD: Final = 4
"""libwebp's speed/size trade-off (0 fast .. 6 small); 4 is its default balance."""

_DRAFT_HEADROOM: Final = 2
"""JPEG DCT scaling stops at >= this many times the largest rendition (see module doc)."""

_MAX_ICC_BYTES: Final = 1024 * 1024
"""Profiles larger than this are ignored rather than parsed (real ones are a few KB)."""

# Exceptions Pillow's decoders are known to raise on hostile or damaged input. Anything else
# (TypeError, AttributeError...) would be a bug in this module and is left to propagate.
_DECODE_ERRORS: Final = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow's historical "not a valid file" signal
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
)

# EXIF Orientation value -> the transpose that makes the pixels upright (as ImageOps does).
_ORIENTATION_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG: Final = 0x0112


class ImageRejected(ValueError):
    """The upload is not an acceptable profile image.

    ``code`` is one of the ``IMAGE_*`` constants and is stable: the API returns it to the client
    and tests assert on it. The message is for logs and humans and may change.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __repr__(self) -> str:
        return f"ImageRejected({self.code!r}, {str(self)!r})"


@dataclass(frozen=True)
class Rendition:
    """One encoded square rendition.

    ``size`` is the *requested* size slot (e.g. 512), which callers use to name the blob;
    ``width``/``height`` are the actual pixels, smaller than ``size`` when the source was
    (images are never upscaled). ``width == height`` always.
    """

    size: int
    data: bytes
    width: int
    height: int
    content_type: str = OUTPUT_CONTENT_TYPE


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name for ``data``'s leading signature, or ``None`` if not accepted.

    Only magic bytes count. This is the whole allow-list: JPEG, PNG (APNG is a PNG), GIF and
    WebP. AVIF, HEIC, SVG, BMP, TIFF... are refused here, before any decoder sees them.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def process_profile_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> list[Rendition]:
    """Validate an uploaded image and return square WebP renditions, largest first.

    Raises :class:`ImageRejected` (with a stable ``code``) for anything a user could fix by
    choosing another file; raises plain :class:`ValueError` for a bad ``sizes`` argument, which is
    a programming error. Safe to call from several threads at once (no global state is changed).
    CPU-bound: run it off the event loop (``run_in_threadpool``/a worker).

    One :class:`Rendition` is returned per distinct entry of ``sizes``. Slots that collapse to the
    same pixel size because the source is small share the same encoded bytes.
    """
    wanted = _validate_sizes(sizes)

    fmt = _accepted_format(data, max_bytes)

    with _open_checked(data, fmt, max_pixels=max_pixels, min_side=min_side) as source:
        side = min(source.size)
        largest = min(wanted[0], side)
        if fmt == "JPEG":
            # DCT-domain downscale while decoding; keeps >= 2x the largest rendition.
            headroom = _DRAFT_HEADROOM * largest
            source.draft(source.mode, (headroom, headroom))
        try:
            source.load()
        except Image.DecompressionBombError as exc:  # some plugins re-check sizes on load
            raise ImageRejected(IMAGE_TOO_MANY_PIXELS, "the image has too many pixels") from exc
        except _DECODE_ERRORS as exc:
            raise ImageRejected(IMAGE_UNDECODABLE, f"the {fmt} image cannot be decoded") from exc
        transpose = _orientation(source)
        icc = source.info.get("icc_profile")
        square = _centre_square(source)

    square = _to_rgb_or_rgba(square, icc if isinstance(icc, bytes) else None)
    top = _resize(square, largest)
    if transpose is not None:
        top = top.transpose(transpose)
    del square

    encoded: dict[int, bytes] = {}
    renditions: list[Rendition] = []
    for size in wanted:
        px = min(size, side)
        if px not in encoded:
            encoded[px] = _encode_webp(top if px == largest else _resize(top, px))
        renditions.append(Rendition(size=size, data=encoded[px], width=px, height=px))
    return renditions


def process_photo(
    data: bytes,
    *,
    max_side: int = 1600,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """A shared photo (a chat image): the same checks as a profile image, but the whole
    picture is kept, turned upright, shrunk to ``max_side`` on its longer side and
    re-encoded to WebP without metadata (no GPS or camera data leaves the sender)."""
    fmt = _accepted_format(data, max_bytes)
    with _open_checked(data, fmt, max_pixels=max_pixels, min_side=1) as source:
        try:
            source.load()
        except Image.DecompressionBombError as exc:
            raise ImageRejected(IMAGE_TOO_MANY_PIXELS, "the image has too many pixels") from exc
        except _DECODE_ERRORS as exc:
            raise ImageRejected(IMAGE_UNDECODABLE, f"the {fmt} image cannot be decoded") from exc
        transpose = _orientation(source)
        icc = source.info.get("icc_profile")
        picture = _to_rgb_or_rgba(source.copy(), icc if isinstance(icc, bytes) else None)
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if transpose is not None:
        picture = picture.transpose(transpose)
    return _encode_webp(picture)


def _accepted_format(data: bytes, max_bytes: int) -> str:
    """The upload's format, after the checks every image goes through before decoding."""
    if not data:
        raise ImageRejected(IMAGE_EMPTY, "the uploaded file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            IMAGE_TOO_LARGE, f"the image is {len(data)} bytes; the limit is {max_bytes}"
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(
            IMAGE_UNSUPPORTED_TYPE, "the file is not a JPEG, PNG, GIF or WebP image"
        )
    return fmt


def _validate_sizes(sizes: tuple[int, ...]) -> list[int]:
    """Distinct requested sizes, largest first; refuses nonsense early and loudly."""
    if not sizes:
        raise ValueError("sizes must name at least one rendition size")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"rendition sizes must be positive integers, got {size!r}")
    return sorted(set(sizes), reverse=True)


def _open_checked(data: bytes, fmt: str, *, max_pixels: int, min_side: int) -> Image.Image:
    """Open lazily with only ``fmt``'s plugin and check dimensions before any pixel is decoded.

    ``Image.open`` parses headers only, so ``size`` is known at the cost of a few hundred bytes of
    parsing, whatever the file claims.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own (higher, global) limit fired first; same outcome as ours.
        raise ImageRejected(
            IMAGE_TOO_MANY_PIXELS, f"the image has too many pixels (limit {max_pixels})"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise ImageRejected(IMAGE_UNDECODABLE, f"the {fmt} image cannot be read") from exc

    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageRejected(
            IMAGE_TOO_MANY_PIXELS,
            f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels",
        )
    if min(width, height) < min_side:
        image.close()
        raise ImageRejected(
            IMAGE_TOO_SMALL,
            f"the image is {width}x{height} pixels; both sides must be at least {min_side}",
        )
    return image


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transpose that makes ``image`` upright, from EXIF (or XMP) Orientation.

    Mirrors ``ImageOps.exif_transpose`` but only *reads* the tag so the transpose can be applied
    to the small result instead of the full image. A damaged EXIF block means "upright": it is
    metadata we are about to discard, not a reason to refuse the photo.
    """
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return None
    return _ORIENTATION_TRANSPOSE.get(value) if isinstance(value, int) else None


def _centre_square(image: Image.Image) -> Image.Image:
    """Crop the centred square of the shorter side (in the image's own mode, palette kept)."""
    width, height = image.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _to_rgb_or_rgba(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Normalise any decoded mode to sRGB ``RGB`` or ``RGBA`` with no metadata attached.

    Alpha is kept only if the image has some (an alpha band or a transparency key, as palette
    GIFs and PNGs use) *and* some pixel is not fully opaque. Takes ownership of ``image`` (a
    private crop): it may be returned with its ``info`` cleared rather than copied.
    """
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info

    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 16-bit/float greyscale (16-bit PNG): scale to 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")

    target = "RGBA" if has_alpha else "RGB"
    converted = _icc_to_srgb(image, icc, target) if icc else None
    if converted is None:
        converted = image if image.mode == target else image.convert(target)

    if converted.mode == "RGBA":
        low, _high = converted.getchannel("A").getextrema()
        if low == 255:
            converted = converted.convert("RGB")
    converted.info = {}  # nothing of the upload's metadata survives past this point
    return converted


def _icc_to_srgb(image: Image.Image, icc: bytes, target: str) -> Image.Image | None:
    """Convert pixels from the embedded profile to sRGB; ``None`` if that cannot be done."""
    if len(icc) > _MAX_ICC_BYTES or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return None
    if target == "RGBA" and image.mode != "RGBA":
        return None  # transparency keys (palette/L) are rare with ICC; plain conversion is fine
    try:
        source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image,
            source_profile,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode=target,
        )
    except (ImageCms.PyCMSError, *_DECODE_ERRORS):
        return None  # unparsable or mismatched profile (e.g. RGB profile on a CMYK image)
    return converted


_SRGB: list[ImageCms.ImageCmsProfile] = []


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    """The built-in sRGB profile, created once (creation is cheap but not free)."""
    if not _SRGB:
        _SRGB.append(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")))
    return _SRGB[0]


def _resize(image: Image.Image, px: int) -> Image.Image:
    """Square ``image`` to ``px`` x ``px`` with LANCZOS; returned as is when already that size.

    ``reducing_gap=3.0`` lets Pillow box-reduce by an integer factor first when shrinking a lot
    (large PNGs), which Pillow documents as indistinguishable from a full LANCZOS pass in most
    cases at that gap, and is much faster.
    """
    if image.size == (px, px):
        return image
    return image.resize((px, px), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode_webp(image: Image.Image) -> bytes:
    """Encode with fixed settings and explicitly empty metadata (never inherited from ``info``)."""
    out = io.BytesIO()
    image.info = {}
    image.save(
        out,
        format="WEBP",
        quality=WEBP_QUALITY,
        method=WEBP_METHOD,
        exif=b"",
        xmp=b"",
        icc_profile=None,
    )
    return out.getvalue()
