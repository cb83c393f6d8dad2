"""The CPU's choice of convolution algorithm ("auto")."""
import os

import numpy as np

from .._ext import _fastconv as _core
from .._geometry import winograd1d_fits, winograd_fits, winograd_s2_fits

# Winograd F(4x4, 3x3) for float32 3x3 stride-1 layers with enough tiles
# (bench/RESULTS.md, "Winograd"); FASTCONV_WINOGRAD=0 keeps auto off it
_WINOGRAD_MIN_TILES = 16
_WINOGRAD_MIN_CHANNELS = 16
# 1-D Winograd (csrc/conv_winograd1d.c): where it saves 1.8x or more of the multiplies, over 64
# or more channels each way and 128 or more tiles of 4 outputs (below those, measured: 16-40
# channels 0.65-0.86x direct / im2col, 256 @100 at batch 1 (25 tiles) 0.41x, 5 taps at stride 1
# (1.67x fewer) 0.96x); where it saves 1.3x or more (3 taps at stride 2: 1.33x), over 128 or
# more channels each way and 500 or more tiles (measured: 64 channels over 2000 tiles 0.89x,
# 256 over 250 0.93x, 128 over 500 1.02x, 256 over 500 1.07x, 512 over 500 1.10x)
_WINOGRAD1D_TIERS = ((1.8, 64, 128), (1.3, 128, 500))  # (least saving, channels, tiles)


def _ceil(a, b):
    return -(-a // b)


def _winograd1d_multiplies(S, s):
    """The 1-D Winograd's multiplies per 4 outputs and channel pair (csrc/conv_winograd1d.c): by
    input phase where every phase has at most 3 taps (F(4, r) for a phase's r taps: r + 3), else
    in pieces of 3 taps (F(4, 3): 6 each)."""
    if S <= 3 * s:
        return sum(3 + _ceil(S - p, s) for p in range(min(s, S)))
    return 6 * s * _ceil(_ceil(S, s), 3)


def _winograd1d_wins(geom, op):
    """auto's rule for the 1-D Winograd (float32 only, as the 2-D one): the forward, and the input
    gradient at stride 1, where it saves enough of the multiplies (4 S per 4 outputs direct: 3
    taps 2x fewer, at stride 2 1.33x; the speech layer's 11 taps at stride 2 1.83x) over enough
    channels and tiles (_WINOGRAD1D_TIERS)."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    if op == "backward_weight" or (op == "backward_input" and sw != 1):
        return False
    saving = 4 * S / _winograd1d_multiplies(S, sw)
    outputs = W if op == "backward_input" else Q  # the input gradient's outputs are x's positions
    D = min(dw, outputs) if sw == 1 else 1  # phases of a dilated layer, each its own tiles
    tiles = N * D * _ceil(_ceil(outputs, D), 4)
    return any(saving >= least and min(C, K) >= channels and tiles >= least_tiles
               for least, channels, least_tiles in _WINOGRAD1D_TIERS)


def _winograd_s2_size(P, Q):
    """The stride-2 Winograd's outputs per tile and axis: 4 (81 positions a tile) or 2 (25), the
    fewer products over the tiles that cover P x Q (csrc/conv_winograd_s2.c, fc_wg2_size)."""
    return 4 if 81 * _ceil(P, 4) * _ceil(Q, 4) <= 25 * _ceil(P, 2) * _ceil(Q, 2) else 2


def _winograd_s2_wins(geom, op):
    """auto's rule for the stride-2 3x3 Winograd (the forward; 1.78x fewer multiplies with 4x4
    tiles, 1.44x with 2x2): 64 or more channels each way, 384 or more tiles, and at most 2M
    transformed weights (81 or 25 per weight pair, made every call).  Measured against direct /
    im2col (2 threads): ResNet-18's layer2 64 -> 128 @56 at batch 8 1.03-1.15x, 16 1.02-1.17x;
    layer3 128 -> 256 @28 (2x2 tiles) at batch 8 1.04-1.06x, 16 1.11x; 256 -> 256 @28 batch 8
    1.05-1.13x; 64 -> 64 @112 batch 2 1.14x.  Below those: layer3 at batch 1 / 2 / 4 0.80 / 0.86 /
    0.90x, layer2 at batch 1 / 2 / 4 0.95 / 0.98 / 0.99-1.02x, 32 channels 0.92-0.97x, layer4
    (10.6 M transformed weights) 0.04-0.23x.

    And over 16 to 64 tiles with 64 or more channels each way, where the forward runs with the
    output channels as the lanes (csrc/conv_winograd_k.c: no transformed weights in memory):
    against auto's choice before, layer3 at batch 1 (49 2x2 tiles) 1.16-1.24x, layer2 at batch 1
    (49 4x4 tiles) 1.30x, layer4 at batch 4 / 8 1.13 / 1.06x, 64 -> 128 @16 at batch 4 / 8 1.14 /
    1.24x; fewer tiles 0.74-1.2x (layer4 at batch 1, 4 tiles: 0.75x), 32 channels 0.77-1.36x."""
    N, C, H, W, K, R, S, P, Q = geom[:9]
    m = _winograd_s2_size(P, Q)
    tiles = N * _ceil(P, m) * _ceil(Q, m)
    if op != "forward" or min(C, K) < 64:
        return False
    return 16 <= tiles <= 64 or (tiles >= 384 and (2 * m + 1) ** 2 * C * K <= 1 << 21)


def _winograd_wins(geom, op, dtype):
    """auto's Winograd rule: float32 only (its error is 2-3.6x direct's there, bench/RESULTS.md), the
    forward or input gradient of a 3x3 stride-1 layer of 16 or more channels each way over 16 or
    more 4x4 output tiles (one vector of tiles: ResNet-18's 256 @14 at batch 1, 1.13 against
    im2col's 1.93 ms forward; at 4 tiles, 512 @7 batch 1, the weight transform makes it 2x slower
    than im2col).  Few channels: direct's error is small there (few terms) and Winograd's 4.3x it
    (bench/RESULTS.md)."""
    if dtype is None or np.dtype(dtype) != np.float32:
        return False
    if os.environ.get("FASTCONV_WINOGRAD", "1") == "0":
        return False
    if winograd1d_fits(geom):
        return _winograd1d_wins(geom, op)
    if winograd_s2_fits(geom):
        return _winograd_s2_wins(geom, op)
    if not winograd_fits(geom):
        return False
    N, C, H, W, K, R, S, P, Q = geom[:9]
    rows, cols = (H, W) if op == "backward_input" else (P, Q)  # the input gradient's outputs are x's positions
    tiles = N * -(-rows // 4) * -(-cols // 4)
    if op == "backward_weight":
        # its sums over tiles into 36 K x C matrices: 64 to 128 channels each way over 32 or more
        # tiles (C3 17.8 against direct's 34.8 ms, C1 28.0 against 35.7; CIFAR's 32 channels
        # 0.86x).  Its float32 error against direct's grows with the channels (tools/winograd_error.py:
        # 1.8x at 64, 3.7x at 128, 4.2x at 256, 5.0x at 512), so from 256 channels, though faster
        # there (VGG 256 @56 batch 1: 9.6 against 20.6 ms), auto leaves it to direct / im2col
        return 64 <= min(C, K) and C * K <= 128 * 128 and tiles >= 32
    if tiles < _WINOGRAD_MIN_TILES:
        # few tiles: the output channels as the lanes (csrc/conv_winograd_k.c), the weight
        # transform in the registers.  Against auto's choice before (direct or im2col), 2 threads,
        # forward: 512 @7 batch 1 (4 tiles) 1.4x, batch 2 1.75x; 256 @7 batch 1 1.4x; 128 @7
        # batch 1 1.3x; 32 @7 batch 2 (8 tiles) 1.1x; but 64 @7 batch 1 0.94x, 128 @4 batch 2 (2
        # tiles) 1.06x, any one tile 0.5-0.6x (36 products per transformed weight do not pay for
        # its transform).  Input gradient: 512 @7 batch 1 / 2 1.39 / 2.9x, 256 and 128 @7 batch 1
        # 1.38 / 1.33x, 64 @7 batch 1 1.26x, 32 @7 batch 2 1.0x
        ch = min(C, K)
        return (tiles >= 8 and ch >= 32) or (tiles >= 4 and ch >= 128) or (tiles >= 2 and ch >= 256)
    # and enough work for the transforms to pay (16 channels over 32 tiles, 0.02 ms: 0.75x direct)
    return min(C, K) >= _WINOGRAD_MIN_CHANNELS and tiles >= _WINOGRAD_MIN_TILES and C * K * tiles >= (1 << 15)


def choose_algorithm(geom, op, dtype=None):
    """The faster algorithm for this shape and operation ("forward",
    "backward_input", "backward_weight") and dtype, from timing them on
    ResNet / VGG / MNIST / 1-D layers on AVX-512 (bench/RESULTS.md, "auto").

    Winograd (float32 3x3 stride-1 layers with enough tiles, _winograd_wins)
    first: 1.2-3x faster than direct or im2col on those layers (the weight
    gradient for 64 to 128 channels).

    Direct (register-tiled, no packing) wins almost everywhere, by up to 15x
    when the GEMM would be thin (depthwise, few channels per group).  The
    im2col GEMM wins where direct's access pattern is weakest: the strided
    input gradient, strided pointwise layers over large maps, strided layers
    of many weights over few pixels (its GEMM reads W in place), and the
    weight gradient of large weights over small feature maps.  (Strided forwards
    with larger kernels went to im2col until the direct kernel vectorised
    small maps along channels: the ResNet stem now runs 25 vs 38 ms, a
    stride-2 3x3 layer 4.8 vs 7.0 ms, MNIST-1D's 1-D layers 2x faster.)"""
    if _winograd_wins(geom, op, dtype):
        return _core.ALGO_WINOGRAD
    N, C, H, W, K, R, S, P, Q, G, sh, sw = geom[:12]
    Cg, Kg = C // G, K // G
    if Cg * R * S < 16 or Kg < 8:
        return _core.ALGO_DIRECT
    strided = sh > 1 or sw > 1
    weights, pixels, one_d = Kg * Cg * R * S, N * P * Q, H == 1 and R == 1
    # A single image (batch 1): direct's tiles share out one image's rows between the threads and
    # reuse each weight over few pixels, where the GEMM's packed panels stay full; im2col wins for
    # all but the smallest layers.  Measured (2 threads, direct / im2col, forward): 2-D N = 1 with
    # C = K = 256 / 512 at 7 to 28 px: 1.1-4.2; 128 @7 3x3 0.67 (the one loss kept); 1-D N = 1,
    # 512 ch L 4000 k3/2: 2.1, 64 ch L 4000: 1.6; but at N = 4, 256 ch @7: 0.63-0.77, 3x3 128 @28:
    # 0.79 (the table of shapes in bench/RESULTS.md, "How auto chooses").
    single = N == 1 and (one_d or pixels <= 784)
    # float64 direct tiles hold half the lanes: at batch 1 im2col wins over larger maps too
    # (ResNet-18's 64 @56 3x3: direct / im2col 1.45 in float64, 0.78 in float32; 256 @56 1.03;
    # 32 @112, 12544 pixels: 0.67)
    f64 = dtype is not None and np.dtype(dtype) == np.float64
    f64_single = f64 and N == 1 and pixels <= 4096 and weights >= 32768
    # many weights over few pixels in all (a small batch of 7x7 maps, 512 channels): the same
    # (N = 4: 1.12-1.14 forward); 1-D layers of 512 channels at batch 2-4 (1.25-1.31)
    few_pixels = pixels <= 256 and weights >= 262144 or one_d and weights >= 524288 and pixels <= 8000
    # a 1x1 layer whose output pixels are its input's (no padding, stride 1): its GEMMs read x's and
    # dy's planes as they lie
    plain_1x1 = R * S == 1 and P == H and Q == W
    if op == "forward":
        # 1x1 stride 2, 64 -> 128 channels, 56x56: 0.70 (im2col) vs 0.91 ms; 28x28: a tie
        pointwise_big = R * S == 1 and P * Q > 256 and Kg >= 16
        # an unpadded stride-1 1x1 layer is a plain GEMM over x's planes (im2col's panels are copies
        # of them): direct / im2col 1.04-1.77 over ResNet-50's and MobileNetV2's pointwise layers
        # at batch 1-32; many input channels over small maps too since the GEMM's units come in
        # whole rounds and share one packing of A (1024 -> 256 @14 at batch 8 and 16, 2048 -> 512
        # @7 at 32, 576 -> 96 @14 at 8 and 32: 1.10-1.20, was 0.87)
        plain_pointwise = plain_1x1 and not strided
        # a strided layer of many weights over a few thousand pixels: im2col's GEMM reads W in place
        # (AVX-512), direct / im2col 1.09-1.19 at ResNet-18's 3x3/2 256 -> 512 @14 batch 8-32, 1.10
        # on the 1-D k3/2 512 -> 512 layer at batch 2, 1.02 on the speech k11/2 128 -> 256 at batch
        # 4; 128 -> 256 @28 (295K weights) goes to direct since its weight packing became register
        # transposes: 0.95-0.99 at batch 2-16; fewer weights lose (64 -> 128 @56 batch 8 0.96,
        # 16 -> 32 0.74-0.77).  2-D stride-1 layers too since their GEMM reads W in place from the
        # zero-padded input (float32, Winograd off): 256 @14 batch 2 / 8 1.08 / 1.11, 512 @7 b8
        # 1.46, DeepLab's d2 512 @28 b2 1.59; from 6272 pixels a tie (256 @14 b32 0.97, @28 b8 0.99)
        wide = (strided or not one_d) and pixels <= 4096 and weights >= (262144 if one_d else 524288)
        # float64 2-D stride-1 layers of 262144 weights or more: direct's tiles hold half the lanes;
        # direct / im2col 1.27-1.80 at 512 @7 batch 2-32, 1.27 / 1.10 / 1.01 at 256 @14 b2 / b8 /
        # b32, 1.04 at 256 @28 b8, 1.05 over 128 -> 256 @28 b4 (295K); 192 @28 (332K) 0.99, 128 @28
        # (147K) 0.97 at batch 8.  (Strided: 3x3/2 128 -> 256 @28 b8 0.79, left to `wide`)
        f64_wide = f64 and not one_d and not strided and weights >= 262144
        return _core.ALGO_IM2COL if strided and pointwise_big or few_pixels or plain_pointwise or f64_single or \
            wide or f64_wide or single and weights >= (4096 if one_d else 65536) else _core.ALGO_DIRECT
    if op == "backward_input":
        # 1-D (H = R = 1): direct, measured (100, 25, 19) k3 s2: 161 vs 216 us; batch 1: 1.2-2.2
        # an unpadded stride-1 1x1 layer onto 64+ channels: one GEMM over every image's pixels
        # written into dx (direct / im2col 1.08-2.39 over ResNet-50's and MobileNetV2's pointwise
        # layers; onto 24 channels 0.72-0.94)
        return _core.ALGO_IM2COL if strided and (H > 1 or R > 1) or plain_1x1 and Cg >= 64 or \
            single and weights >= (4096 if one_d else 16384) else _core.ALGO_DIRECT
    # direct adds into a per-thread partial weight gradient once per image
    # band: when that partial outgrows L2 and the maps are small (few pixels
    # to reduce over between visits), the GEMM's blocking wins; at batch 1 it
    # wins from 4096 weights (1.1-10.6 over the table's shapes)
    partial_bytes = K * Cg * R * S * 4
    small_map = R * S == 1 and P * Q <= 256 or P * Q < 64
    # an unpadded stride-1 1x1 layer of 64+ channels each side: a plain GEMM over the pixels, dy's
    # rows and x's planes packed by 8 x 8 register transposes: direct / im2col 1.00-6.9 over
    # ResNet-50's pointwise layers at batch 1-8 (64 -> 256 @56 float64 batch 4: 0.98); MobileNetV2's
    # 24 -> 144 channels stay on direct (0.50-1.08).  Onto 16-63 channels from 128 or more: im2col
    # in float64, and in float32 up to 12544 pixels (MobileNetV2's 144 -> 24 @56 and 192 -> 32 @28,
    # batch 1-8: direct / im2col 1.00-1.47 in float64, 1.12-1.66 in float32; 144 -> 24 @56 at
    # batch 8 in float32, 25088 pixels, 0.83, and 96 -> 16 @56, 0.71-0.94, stay on direct)
    narrow_1x1 = plain_1x1 and Cg >= 128 and 16 <= Kg < 64 and \
        (pixels <= 12544 or f64)
    # many weights for the pixels they are summed over: the GEMM's B packed from the phase planes
    # by register transposes (direct / im2col, float32: VGG 512 @14 batch 8 1.27, DeepLab's d2
    # 512 @28 batch 1 (its phases: 4 images of 14 x 14) 1.73, ResNet-18 256 @14 batch 4 and 8
    # 1.10 and 1.05, 3x3/2 128 -> 256 @28 batch 8 1.05; 150 weights a pixel or fewer lost or tied:
    # the same layers at batch 32 0.93-0.98, 128 @14 batch 8 0.83; float64 only from 300: 256 @14
    # batch 8 1.10, 3x3/2 batch 8 (188) 0.91)
    dense = weights >= 262144 and weights >= (300 if f64 else 150) * pixels
    return _core.ALGO_IM2COL if partial_bytes > (1 << 19) and small_map or few_pixels or \
        plain_1x1 and Cg >= 64 and Kg >= 64 or narrow_1x1 or dense or \
        single and weights >= 4096 else _core.ALGO_DIRECT
