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
    if op == "forward":
        # 1x1 stride 2, 64 -> 128 channels, 56x56: 0.70 (im2col) vs 0.91 ms; 28x28: a tie
        pointwise_big = R * S == 1 and P * Q > 256 and Kg >= 16
        return _core.ALGO_IM2COL if strided and pointwise_big else _core.ALGO_DIRECT
    if op == "backward_input":
        # 1-D (H = R = 1): direct, measured (100, 25, 19) k3 s2: 161 vs 216 us
        return _core.ALGO_IM2COL if strided and (H > 1 or R > 1) else _core.ALGO_DIRECT
    # direct adds into a per-thread partial weight gradient once per image
    # band: when that partial outgrows L2 and the maps are small (few pixels
    # to reduce over between visits), the GEMM's blocking wins
    partial_bytes = K * Cg * R * S * 4
    small_map = R * S == 1 and P * Q <= 256 or P * Q < 64
    return _core.ALGO_IM2COL if partial_bytes > (1 << 19) and small_map else _core.ALGO_DIRECT
