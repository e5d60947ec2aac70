"""Profile-image processing: every rejection code, metadata stripping, orientation, renditions.

All images are generated in memory with Pillow; no fixture files live in the repository.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw

from infra.media.images import (
    DEFAULT_MAX_BYTES,
    IMAGE_EMPTY,
    IMAGE_TOO_LARGE,
    IMAGE_TOO_MANY_PIXELS,
    IMAGE_TOO_SMALL,
    IMAGE_UNDECODABLE,
    IMAGE_UNSUPPORTED_TYPE,
    ImageRejected,
    Rendition,
    process_profile_image,
    sniff_format,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


# --- helpers -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def solid(
    size: tuple[int, int], colour: tuple[int, ...] | int = RED, mode: str = "RGB"
) -> Image.Image:
    return Image.new(mode, size, colour)


def halves(
    size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]
) -> Image.Image:
    """An image whose left half is ``left`` and right half ``right``."""
    image = Image.new("RGB", size, left)
    ImageDraw.Draw(image).rectangle((size[0] // 2, 0, size[0], size[1]), fill=right)
    return image


def decode(rendition: Rendition) -> Image.Image:
    image = Image.open(io.BytesIO(rendition.data), formats=["WEBP"])
    image.load()
    return image


def riff_chunks(data: bytes) -> Iterator[bytes]:
    """The FourCCs of a RIFF/WebP file's top-level chunks (EXIF, XMP , ICCP would be metadata)."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    offset = 12
    while offset + 8 <= len(data):
        fourcc = data[offset : offset + 4]
        (length,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        yield fourcc
        offset += 8 + length + (length & 1)


def png_with_fake_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed up).

    Building the real image would need gigabytes; the decoder must never get that far.
    """
    data = bytearray(encode(solid((1, 1)), "PNG"))
    # signature (8) | length (4) | b"IHDR" (4) | width (4) | height (4) | 5 more bytes | CRC (4)
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def rejected(data: bytes, **kwargs: object) -> str:
    with pytest.raises(ImageRejected) as info:
        process_profile_image(data, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def colour_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


# --- rejections ----------------------------------------------------------------------------


def test_empty_upload_is_rejected() -> None:
    assert rejected(b"") == IMAGE_EMPTY


def test_upload_over_the_default_limit_is_rejected_before_anything_else() -> None:
    # Valid JPEG signature, then padding: the size check must not need to parse anything.
    data = b"\xff\xd8\xff" + b"\0" * DEFAULT_MAX_BYTES
    assert rejected(data) == IMAGE_TOO_LARGE


def test_upload_at_the_limit_is_not_too_large() -> None:
    data = encode(solid((64, 64)), "PNG")
    assert process_profile_image(data, max_bytes=len(data))
    assert rejected(data, max_bytes=len(data) - 1) == IMAGE_TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"just some text that a client called avatar.jpg\n", id="text-named-jpg"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
        pytest.param(b"<html><script>alert(1)</script></html>", id="html"),
        pytest.param(encode(solid((64, 64)), "BMP"), id="bmp"),
        pytest.param(encode(solid((64, 64)), "TIFF"), id="tiff"),
        pytest.param(b"RIFF\x10\x00\x00\x00WAVEfmt ", id="riff-but-not-webp"),
        pytest.param(b"\xff\xd8", id="too-short-for-any-signature"),
    ],
)
def test_content_that_is_not_jpeg_png_gif_or_webp_is_rejected(data: bytes) -> None:
    assert rejected(data) == IMAGE_UNSUPPORTED_TYPE


def test_type_is_sniffed_from_content_so_a_png_sent_as_jpeg_is_accepted() -> None:
    # The client declared image/jpeg and named it photo.jpg; neither reaches this function,
    # and the bytes are a PNG - which is on the allow-list, so it is processed.
    data = encode(solid((64, 64)), "PNG")

    assert sniff_format(data) == "PNG"
    renditions = process_profile_image(data)
    assert renditions[0].content_type == "image/webp"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_each_allowed_format_is_sniffed(fmt: str) -> None:
    assert sniff_format(encode(solid((40, 40)), fmt)) == fmt


def test_truncated_jpeg_is_undecodable() -> None:
    data = encode(halves((400, 300), RED, BLUE), "JPEG", quality=90)
    assert rejected(data[: len(data) // 2]) == IMAGE_UNDECODABLE


def test_truncated_png_is_undecodable() -> None:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    assert rejected(data[: len(data) // 2]) == IMAGE_UNDECODABLE


def test_signature_followed_by_garbage_is_undecodable() -> None:
    assert rejected(b"\xff\xd8\xff" + b"not really a jpeg" * 10) == IMAGE_UNDECODABLE
    assert rejected(b"GIF89a" + b"\x00" * 3) == IMAGE_UNDECODABLE


def test_pixel_bomb_far_beyond_pillows_own_limit_is_rejected() -> None:
    data = png_with_fake_size(50_000, 50_000)  # 2.5 Gpx claimed in a ~70 byte file

    assert len(data) < 100
    assert rejected(data) == IMAGE_TOO_MANY_PIXELS


def test_pixel_limit_is_checked_before_decoding() -> None:
    # 48 Mpx: under Pillow's global bomb thresholds, over ours. The IDAT is for a 1x1 image, so
    # if anything tried to decode it the result would be IMAGE_UNDECODABLE instead.
    data = png_with_fake_size(8_000, 6_000)

    assert rejected(data) == IMAGE_TOO_MANY_PIXELS
    assert rejected(png_with_fake_size(100, 100), max_pixels=9_999) == IMAGE_TOO_MANY_PIXELS


def test_gif_logical_screen_bomb_is_rejected() -> None:
    data = bytearray(encode(solid((40, 40), mode="P", colour=1), "GIF"))
    data[6:10] = struct.pack("<HH", 65_535, 65_535)  # logical screen width/height
    assert rejected(bytes(data)) == IMAGE_TOO_MANY_PIXELS


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_bomb_warning_raised_as_error_maps_to_too_many_pixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    assert rejected(encode(solid((100, 80)), "PNG")) == IMAGE_TOO_MANY_PIXELS


def test_pillows_bomb_warning_alone_does_not_reject_under_our_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    with pytest.warns(Image.DecompressionBombWarning):
        renditions = process_profile_image(encode(solid((100, 80)), "PNG"))
    assert renditions[0].width == 80


@pytest.mark.parametrize("size", [(31, 500), (500, 31), (1, 1)])
def test_too_small_is_rejected(size: tuple[int, int]) -> None:
    assert rejected(encode(solid(size), "PNG")) == IMAGE_TOO_SMALL


def test_minimum_size_is_accepted() -> None:
    renditions = process_profile_image(encode(solid((32, 32)), "PNG"))
    assert {(r.width, r.height) for r in renditions} == {(32, 32)}


def test_rejection_is_a_value_error_with_a_stable_code() -> None:
    with pytest.raises(ValueError, match="empty") as info:
        process_profile_image(b"")
    assert isinstance(info.value, ImageRejected)
    assert info.value.code == IMAGE_EMPTY
    assert "IMAGE_EMPTY" in repr(info.value)


@pytest.mark.parametrize("sizes", [(), (0,), (-5, 96), (True,)])
def test_bad_sizes_argument_is_a_programming_error_not_a_rejection(
    sizes: tuple[int, ...],
) -> None:
    with pytest.raises(ValueError, match="size") as info:
        process_profile_image(encode(solid((64, 64)), "PNG"), sizes=sizes)
    assert not isinstance(info.value, ImageRejected)


# --- metadata and orientation --------------------------------------------------------------


def jpeg_with_gps_and_orientation(orientation: int) -> bytes:
    """400x200 landscape, left half red, right half blue, with GPS, camera, XMP and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.BodySerialNumber] = "SN-123456"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 33.0, 59.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (126.0, 58.0, 41.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>home address</secret></x:xmpmeta>'
    return encode(
        halves((400, 200), RED, BLUE),
        "JPEG",
        quality=95,
        exif=exif,
        xmp=xmp,
        comment=b"uploaded from my flat",
    )


def test_input_fixture_really_carries_the_metadata() -> None:
    source = Image.open(io.BytesIO(jpeg_with_gps_and_orientation(6)))
    exif = source.getexif()

    assert exif[ExifTags.Base.Orientation] == 6
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert "xmp" in source.info
    assert "comment" in source.info


def test_all_metadata_is_dropped() -> None:
    renditions = process_profile_image(jpeg_with_gps_and_orientation(6))

    for rendition in renditions:
        out = decode(rendition)
        assert not out.getexif()
        assert not out.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment"} & set(out.info)
        # Only image chunks in the container: no EXIF, "XMP " or ICCP chunk at all.
        assert set(riff_chunks(rendition.data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
        for secret in (b"SpyCam", b"SN-123456", b"home address", b"my flat", b"Exif"):
            assert secret not in rendition.data


def test_orientation_6_is_applied_before_the_square_crop() -> None:
    # Orientation 6 = rotate 90 degrees clockwise for display: the landscape's left (red) half
    # becomes the top of a 200x400 portrait, whose centre square is red above, blue below.
    # Unrotated, the centre square would be red on the left and blue on the right.
    out = decode(process_profile_image(jpeg_with_gps_and_orientation(6))[0])
    width, height = out.size

    assert (width, height) == (200, 200)
    top_right = out.getpixel((3 * width // 4, height // 4))
    bottom_left = out.getpixel((width // 4, 3 * height // 4))
    assert isinstance(top_right, tuple)
    assert isinstance(bottom_left, tuple)
    assert colour_close(top_right, RED), top_right
    assert colour_close(bottom_left, BLUE), bottom_left


def test_orientation_8_rotates_the_other_way() -> None:
    out = decode(process_profile_image(jpeg_with_gps_and_orientation(8))[0])
    top = out.getpixel((out.width // 2, out.height // 4))
    bottom = out.getpixel((out.width // 2, 3 * out.height // 4))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert colour_close(top, BLUE), top
    assert colour_close(bottom, RED), bottom


def test_without_orientation_the_landscape_is_cropped_as_is() -> None:
    out = decode(process_profile_image(jpeg_with_gps_and_orientation(1))[0])
    left = out.getpixel((out.width // 4, out.height // 2))
    right = out.getpixel((3 * out.width // 4, out.height // 2))
    assert isinstance(left, tuple)
    assert isinstance(right, tuple)
    assert colour_close(left, RED), left
    assert colour_close(right, BLUE), right


def test_trailing_payload_after_the_image_never_reaches_the_output() -> None:
    payload = b"<html><script>steal(document.cookie)</script></html>"
    data = encode(solid((64, 64), GREEN), "JPEG") + payload

    for rendition in process_profile_image(data):
        assert payload not in rendition.data
        assert b"script" not in rendition.data


def test_unparsable_icc_profile_is_ignored_not_fatal() -> None:
    data = encode(solid((64, 64), GREEN), "JPEG", icc_profile=b"definitely not an ICC profile")

    out = decode(process_profile_image(data)[0])
    assert "icc_profile" not in out.info
    pixel = out.getpixel((32, 32))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, GREEN)


def test_srgb_icc_profile_is_converted_and_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(solid((64, 64), (200, 120, 40)), "PNG", icc_profile=srgb)

    rendition = process_profile_image(data)[0]
    out = decode(rendition)
    assert "icc_profile" not in out.info
    assert b"ICCP" not in set(riff_chunks(rendition.data))
    pixel = out.getpixel((32, 32))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, (200, 120, 40), tolerance=8)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG")  # cyan-free: red

    out = decode(process_profile_image(data)[0])
    assert out.mode == "RGB"
    pixel = out.getpixel((32, 32))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, RED, tolerance=40), pixel


def test_16_bit_greyscale_png_is_scaled_not_clipped() -> None:
    data = encode(Image.new("I;16", (64, 64), 32_768), "PNG")

    out = decode(process_profile_image(data)[0])
    pixel = out.getpixel((32, 32))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, (128, 128, 128), tolerance=4), pixel


# --- frames and transparency ---------------------------------------------------------------


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [solid((80, 80), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3

    out = decode(process_profile_image(data)[0])
    pixel = out.getpixel((40, 40))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, RED), pixel


def test_animated_webp_uses_the_first_frame() -> None:
    frames = [solid((80, 80), colour) for colour in (GREEN, RED, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3

    renditions = process_profile_image(data)
    out = decode(renditions[0])
    assert getattr(out, "n_frames", 1) == 1
    pixel = out.getpixel((40, 40))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, GREEN), pixel


def test_multi_picture_jpeg_from_a_phone_uses_the_primary_image() -> None:
    # MPO (stereo/depth pictures) starts like any JPEG; Pillow opens it as "MPO".
    data = encode(
        solid((600, 400), RED), "MPO", save_all=True, append_images=[solid((600, 400), BLUE)]
    )
    assert sniff_format(data) == "JPEG"

    out = decode(process_profile_image(data)[0])
    pixel = out.getpixel((200, 200))
    assert isinstance(pixel, tuple)
    assert colour_close(pixel, RED), pixel


def test_rgba_png_keeps_its_transparency() -> None:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((100, 0, 200, 200), fill=(0, 255, 0, 255))

    out = decode(process_profile_image(encode(image, "PNG"))[0])
    assert out.mode == "RGBA"
    clear = out.getpixel((20, 100))
    opaque = out.getpixel((180, 100))
    assert isinstance(clear, tuple)
    assert isinstance(opaque, tuple)
    assert clear[3] == 0
    assert opaque[3] == 255
    assert colour_close(opaque[:3], GREEN)


def test_palette_gif_with_transparency_becomes_rgba() -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    ImageDraw.Draw(image).rectangle((32, 0, 64, 64), fill=1)
    data = encode(image, "GIF", transparency=0)

    out = decode(process_profile_image(data)[0])
    assert out.mode == "RGBA"
    clear = out.getpixel((8, 32))
    red = out.getpixel((56, 32))
    assert isinstance(clear, tuple)
    assert isinstance(red, tuple)
    assert clear[3] == 0
    assert red[3] == 255
    assert colour_close(red[:3], RED)


def test_fully_opaque_alpha_channel_is_dropped() -> None:
    data = encode(solid((64, 64), (10, 20, 30, 255), mode="RGBA"), "PNG")
    assert decode(process_profile_image(data)[0]).mode == "RGB"


# --- renditions ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_default_renditions_are_square_webp_largest_first(fmt: str) -> None:
    source = Image.effect_noise((1000, 600), 40).convert("RGB")
    renditions = process_profile_image(encode(source, fmt))

    assert [r.size for r in renditions] == [512, 256, 96]
    for rendition in renditions:
        assert rendition.content_type == "image/webp"
        assert (rendition.width, rendition.height) == (rendition.size, rendition.size)
        assert rendition.data[:4] == b"RIFF"
        assert rendition.data[8:12] == b"WEBP"
        out = decode(rendition)
        assert out.format == "WEBP"
        assert out.size == (rendition.size, rendition.size)


def test_sizes_are_deduplicated_and_sorted_largest_first() -> None:
    renditions = process_profile_image(encode(solid((300, 300)), "PNG"), sizes=(64, 200, 64, 128))
    assert [(r.size, r.width) for r in renditions] == [(200, 200), (128, 128), (64, 64)]


def test_small_source_is_never_upscaled() -> None:
    renditions = process_profile_image(encode(solid((120, 80), GREEN), "PNG"))

    assert [(r.size, r.width, r.height) for r in renditions] == [
        (512, 80, 80),
        (256, 80, 80),
        (96, 80, 80),
    ]
    assert renditions[0].data is renditions[1].data is renditions[2].data
    assert decode(renditions[0]).size == (80, 80)


def test_source_between_sizes_caps_only_the_larger_slots() -> None:
    renditions = process_profile_image(encode(solid((300, 400)), "JPEG"))
    assert [(r.size, r.width) for r in renditions] == [(512, 300), (256, 256), (96, 96)]


def test_large_jpeg_uses_draft_decoding_and_still_fills_the_largest_size() -> None:
    source = halves((4000, 3000), RED, BLUE)
    renditions = process_profile_image(encode(source, "JPEG", quality=85))

    out = decode(renditions[0])
    assert out.size == (512, 512)
    left = out.getpixel((64, 256))
    right = out.getpixel((448, 256))
    assert isinstance(left, tuple)
    assert isinstance(right, tuple)
    assert colour_close(left, RED)
    assert colour_close(right, BLUE)


def test_output_is_deterministic() -> None:
    data = encode(Image.effect_noise((700, 500), 60).convert("RGB"), "JPEG", quality=90)
    assert process_profile_image(data) == process_profile_image(data)


def test_rendition_is_immutable() -> None:
    rendition = process_profile_image(encode(solid((64, 64)), "PNG"))[0]
    with pytest.raises(AttributeError):
        rendition.size = 1  # type: ignore[misc]
