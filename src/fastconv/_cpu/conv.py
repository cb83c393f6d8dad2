"""The CPU's choice of convolution algorithm ("auto")."""
from .._ext import _fastconv as _core


def choose_algorithm(geom, op):
    """The faster algorithm for this shape and operation ("forward",
    "backward_input", "backward_weight"), from timing both on ResNet /
    MNIST / 1-D layers on AVX-512 (bench/RESULTS.md, "auto").

    Direct (register-tiled, no packing) wins almost everywhere, by up to 15x
    when the GEMM would be thin (depthwise, few channels per group).  The
    im2col GEMM wins where direct's access pattern is weakest: the strided
    input gradient, strided pointwise layers over large maps, and the weight
    gradient of large weights over small feature maps.  (Strided forwards
    with larger kernels went to im2col until the direct kernel vectorised
    small maps along channels: the ResNet stem now runs 25 vs 38 ms, a
    stride-2 3x3 layer 4.8 vs 7.0 ms, MNIST-1D's 1-D layers 2x faster.)"""
    N, C, H, W, K, R, S, P, Q, G, sh, sw = geom[:12]
    Cg, Kg = C // G, K // G
    if Cg * R * S < 16 or Kg < 8:
        return _core.ALGO_DIRECT
    strided = sh > 1 or sw > 1
    # few output pixels in all (N P Q: a small batch of 7x7 / 14x14 maps) for many weights per group:
    # each weight is used a few dozen times, and direct's tiles (vectorised along the pixels) run
    # mostly empty where the GEMM's packed panels stay full.  Measured (b1, 2 threads, direct /
    # im2col): 3x3 512 ch @7 8.7 / 2.1 ms (b2 5.9 / 4.1, b4 8.3 / 7.3, b8 a tie); 1x1 512 -> 2048 @7
    # 4.9 / 0.85; 1024 -> 256 @14 1.8 / 1.0; while 3x3 128 ch @28 (784 pixels) 2.2 / 2.8
    few_pixels = N * P * Q <= 256 and Kg * Cg * R * S >= 65536
    if op == "forward":
        # 1x1 stride 2, 64 -> 128 channels, 56x56: 0.70 (im2col) vs 0.91 ms; 28x28: a tie
        pointwise_big = R * S == 1 and P * Q > 256 and Kg >= 16
        return _core.ALGO_IM2COL if strided and pointwise_big or few_pixels else _core.ALGO_DIRECT
    if op == "backward_input":
        # 1-D (H = R = 1): direct, measured (100, 25, 19) k3 s2: 161 vs 216 us.  Few pixels: only
        # the pointwise layers gain (1x1 1024 -> 256 @14, b1: 1.55 / 0.78 ms; 3x3 512 ch @7, b2:
        # direct 3.5 / 4.3 ms)
        return _core.ALGO_IM2COL if strided and (H > 1 or R > 1) or few_pixels and R * S == 1 \
            else _core.ALGO_DIRECT
    # direct adds into a per-thread partial weight gradient once per image
    # band: when that partial outgrows L2 and the maps are small (few pixels
    # to reduce over between visits), the GEMM's blocking wins; so it does over
    # few pixels in all (3x3 96 ch @14, b1: 0.47 / 0.32 ms; 1x1 128 -> 512 @28,
    # b1: 2.2 / 0.8 ms) but not 3x3 256 ch @14 at b4 (5.1 / 5.8 ms)
    partial_bytes = K * Cg * R * S * 4
    small_map = R * S == 1 and P * Q <= 256 or P * Q < 64
    few = Kg * Cg * R * S >= 16384 and (N * P * Q <= 256 or R * S == 1 and N * P * Q <= 1024)
    return _core.ALGO_IM2COL if partial_bytes > (1 << 19) and small_map or few else _core.ALGO_DIRECT
