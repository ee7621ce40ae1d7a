#!/usr/bin/env python3
"""Generates the tiny test images under tests/data/images and prints the reference values
recorded in tests/unit/test_data_images.c. Needs numpy and Pillow; run from any directory.
The PNG variants are encoded by hand (write_png) to control color type and bit depth."""
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(w, h, color_type, depth, rows, plte=None, trns=None):
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in rows)))
    return out + chunk(b"IEND", b"")


def write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def u8rows(a):
    return [bytes(r) for r in np.asarray(a, np.uint8).reshape(a.shape[0], -1)]


def u16rows(a):
    return [np.asarray(r, ">u2").tobytes() for r in np.asarray(a).reshape(a.shape[0], -1)]


# ---- images --------------------------------------------------------------------------
A_RGB = np.array([[[10, 20, 30], [40, 50, 60], [70, 80, 90], [100, 110, 120]],
                  [[130, 140, 150], [160, 170, 180], [190, 200, 210], [220, 230, 240]],
                  [[255, 0, 128], [0, 255, 64], [32, 16, 8], [1, 2, 3]]], np.uint8)  # H3 W4
write(path("flat", "a_rgb.png"), png_bytes(4, 3, 2, 8, u8rows(A_RGB)))
write(path("flat", "k_upper.PNG"), png_bytes(4, 3, 2, 8, u8rows(A_RGB)))
B_GRAY = np.array([[0, 100, 200], [50, 150, 250]], np.uint8)
write(path("flat", "b_gray.png"), png_bytes(3, 2, 0, 8, u8rows(B_GRAY)))
C_RGBA = np.array([[[1, 2, 3, 0], [4, 5, 6, 128]], [[7, 8, 9, 255], [10, 11, 12, 7]]], np.uint8)
write(path("flat", "c_rgba.png"), png_bytes(2, 2, 6, 8, u8rows(C_RGBA)))
PLTE = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
write(path("flat", "d_palette.png"), png_bytes(3, 1, 3, 8, [bytes([2, 0, 1])], PLTE, bytes([0, 255])))
E_RGB16 = np.array([[[0x1234, 0xABCD, 0xFFFF], [0x00FF, 0x0100, 0x8080]]], np.uint16)
write(path("flat", "e_rgb16.png"), png_bytes(2, 1, 2, 16, u16rows(E_RGB16)))
write(path("flat", "f_gray2.png"), png_bytes(4, 1, 0, 2, [bytes([0b00011011])]))  # 0,1,2,3
G_GA16 = np.array([[[0x7F00, 0x0000], [0xFF01, 0xFFFF]]], np.uint16)
write(path("flat", "g_graya16.png"), png_bytes(2, 1, 4, 16, u16rows(G_GA16)))
H_RGB = np.array([[[200, 30, 40], [190, 40, 50], [180, 50, 60], [170, 60, 70]],
                  [[60, 200, 30], [70, 190, 40], [80, 180, 50], [90, 170, 60]],
                  [[30, 40, 200], [40, 50, 190], [50, 60, 180], [60, 70, 170]],
                  [[128, 128, 128], [120, 120, 120], [110, 110, 110], [100, 100, 100]]], np.uint8)
Image.fromarray(H_RGB, "RGB").save(path("flat", "h_q100.jpg"), quality=100, subsampling=0)
Image.fromarray(H_RGB[..., 0], "L").save(path("flat", "i_gray.jpg"), quality=100)
Image.new("CMYK", (2, 2), (10, 200, 30, 40)).save(path("flat", "j_cmyk.jpg"), quality=100)
write(path("flat", "notes.txt"), b"not an image\n")
write(path("flat", ".hidden.png"), b"hidden files are skipped\n")

# class subfolders
write(path("classes", "cat", "c1.png"), png_bytes(2, 2, 0, 8, u8rows(np.full((2, 2), 11, np.uint8))))
Image.new("RGB", (3, 2), (22, 22, 22)).save(path("classes", "cat", "c2.jpg"), quality=100)
write(path("classes", "dog", "d1.png"), png_bytes(2, 2, 0, 8, u8rows(np.full((2, 2), 33, np.uint8))))
write(path("classes", "dog", "info.txt"), b"skipped\n")

# corrupt files (a_ok.png decodes)
write(path("corrupt", "a_ok.png"), png_bytes(2, 2, 0, 8, u8rows(np.full((2, 2), 5, np.uint8))))
write(path("corrupt", "b_garbage.jpg"), b"\xff\xd8\xff" + bytes(range(7, 200)))
good_jpg = open(path("flat", "h_q100.jpg"), "rb").read()
write(path("corrupt", "c_truncated.jpg"), good_jpg[: len(good_jpg) // 2])
write(path("corrupt", "d_text.png"), b"this is text, not a PNG\n")
good_png = png_bytes(4, 3, 2, 8, u8rows(A_RGB))
write(path("corrupt", "e_truncated.png"), good_png[: len(good_png) - 20])
bad_crc = bytearray(good_png)
bad_crc[29] ^= 0xFF  # inside the IHDR CRC
write(path("corrupt", "f_badcrc.png"), bytes(bad_crc))

# preprocessing source: 5 rows x 6 columns
P = (np.arange(5 * 6 * 3).reshape(5, 6, 3) * 37 % 256).astype(np.uint8)
write(path("prep", "p.png"), png_bytes(6, 5, 2, 8, u8rows(P)))


# ---- reference preprocessing (float64, independent of the C code) -------------------
def bilinear(img, oh, ow):
    """img: (H, W, C) float. Half-pixel centers, coordinates clamped at the edges."""
    h, w = img.shape[:2]

    def coords(n_in, n_out):
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        x0 = np.floor(x).astype(int)
        x1 = np.minimum(x0 + 1, n_in - 1)
        return x0, x1, x - x0

    y0, y1, fy = coords(h, oh)
    x0, x1, fx = coords(w, ow)
    fx = fx[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy[:, None, None]) + bot * fy[:, None, None]


# cross-check the reference with Pillow's float resize when upsampling (no antialias there)
for oh, ow in [(7, 9), (10, 12)]:
    ref = bilinear(P.astype(np.float64), oh, ow)
    pil = np.stack([np.asarray(Image.fromarray(P[..., c].astype(np.float32), "F")
                               .resize((ow, oh), Image.BILINEAR)) for c in range(3)], -1)
    assert np.abs(ref - pil).max() < 1e-3, np.abs(ref - pil).max()


def center_crop(img, ch, cw):
    h, w = img.shape[:2]
    t, l = (h - ch) // 2, (w - cw) // 2
    return img[t:t + ch, l:l + cw]


def fraction_crop(img, f):
    h, w = img.shape[:2]
    t, l = int((h - h * f) / 2), int((w - w * f) / 2)
    return img[t:h - t, l:w - l]


def emit(name, a):
    flat = np.asarray(a, np.float64).ravel()
    print("static const float %s[%d] = {" % (name, flat.size))
    line = "   "
    for v in flat:
        s = " %sf," % np.format_float_positional(np.float32(v), unique=True, trim="0")
        if len(line) + len(s) > 98:
            print(line)
            line = "   "
        line += s
    print(line)
    print("};")


x = P.astype(np.float64)
# "resize=4x3": exact downscale, nchw
emit("EXP_RESIZE_4X3", bilinear(x, 4, 3).transpose(2, 0, 1))
# "resize=4,crop=2x3,bgr,scale=0.5,mean=1:2:3,std=2:4:8,layout=nhwc"
r = bilinear(x, 4, int(4 * 6 / 5))
r = center_crop(r, 2, 3)[..., ::-1]
emit("EXP_SHORT_CROP_NHWC", (r * 0.5 - np.array([1, 2, 3])) / np.array([2, 4, 8]))
# "crop=0.5,resize=4x5": fraction crop then upscale
emit("EXP_FRACTION_UP", bilinear(fraction_crop(x, 0.5), 4, 5).transpose(2, 0, 1))
# "gray,scale=1/255" with model sample (1,5,6): luma, no resize
g = x @ np.array([0.299, 0.587, 0.114])
emit("EXP_GRAY", g / 255)
# no spec, model sample (3,2,3): exact resize to the model size
emit("EXP_AUTO", bilinear(x, 2, 3).transpose(2, 0, 1))
# "crop=3" with model (3,4,4): crop, then resize to the model size (no resize step)
emit("EXP_CROP_AUTO", bilinear(center_crop(x, 3, 3), 4, 4).transpose(2, 0, 1))

# decoded references (Pillow's libjpeg-turbo)
emit("EXP_JPEG_Q100", np.asarray(Image.open(path("flat", "h_q100.jpg")).convert("RGB")))
emit("EXP_JPEG_GRAY", np.asarray(Image.open(path("flat", "i_gray.jpg"))))
emit("EXP_JPEG_CMYK", np.asarray(Image.open(path("flat", "j_cmyk.jpg")).convert("RGB")))
