/* fastconv compiled core: the C interface seen by the Cython bindings.
 *
 * Size letters, used with these meanings everywhere in csrc/:
 *   N  batch                  C  input channels       H, W  input height, width
 *   K  output channels        R, S  kernel height, width
 *   P, Q  output height, width                        G  groups
 * Tensors are C-contiguous:  x (N, C, H, W)   w (K, C/G, R, S)   y (N, K, P, Q).
 * A 1-D convolution is the case H = R = P = 1.
 *
 * Argument order of every kernel: outputs, then inputs and weights, then
 * sizes, then the thread count.  Backward kernels take the gradients they
 * produce first, then the upstream gradient, then what the forward saw.
 * Backward kernels ADD into their outputs; the caller zeroes them.
 * Kernels assume valid, contiguous input (validation lives in Python) and
 * return an fc_status instead of printing or exiting.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stdint.h>

#if defined(_WIN32)
#define FC_EXPORT __declspec(dllexport)
#else
#define FC_EXPORT __attribute__((visibility("default")))
#endif

typedef enum fc_status {
    FC_OK = 0,
    FC_ERR_NOMEM = 1, /* a scratch buffer could not be allocated */
    FC_ERR_ARG = 2,   /* an argument the Python layer should have rejected */
    FC_ERR_GEOM = 3,  /* sizes, strides, paddings or dilations out of the kernels' range
                         (the Python layer rejects them first) */
} fc_status;

typedef enum fc_conv_algo {
    FC_ALGO_DIRECT = 0,
    FC_ALGO_IM2COL = 1,
    FC_ALGO_WINOGRAD = 2, /* F(4x4, 3x3): 3x3, stride 1, forward and input gradient */
} fc_conv_algo;

/* Geometry of one convolution.  pad_h / pad_w are the top / left padding;
 * the bottom / right padding is implied by P and Q, so asymmetric padding
 * ("same" with an even kernel) needs nothing more. */
typedef struct fc_conv_geom {
    int64_t N, C, H, W;
    int64_t K, R, S;
    int64_t P, Q;
    int64_t G;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;
    int64_t dil_h, dil_w;
} fc_conv_geom;

/* ---- runtime ---------------------------------------------------------- */

/* Thread count used by kernels when the caller passes nthreads <= 0. */
FC_EXPORT int fc_get_num_threads(void);
FC_EXPORT void fc_set_num_threads(int n);

/* SIMD level: 0 generic, 1 AVX2+FMA, 2 AVX-512 (F, VL, BW, DQ). */
int fc_simd_detected(void);          /* what the CPU and OS support */
int fc_simd_active(void);            /* what the kernels use now */
int fc_simd_set(int level);          /* caps the level; returns the level in use */
const char *fc_simd_name(int level);

/* Micro-kernel register tile of the active level, for tests and info. */
void fc_gemm_tile(int dtype_bytes, int *mr, int *nr);

/* ---- pooling ------------------------------------------------------------ */

/* Geometry of a pooling over NC planes (batch x channels) of H x W inputs,
 * P x Q outputs, R x S windows; pad_h / pad_w are the top / left padding.
 * A 1-D pooling is H = P = R = 1. */
typedef struct fc_pool_geom {
    int64_t NC, H, W, P, Q, R, S;
    int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} fc_pool_geom;

/* ---- recurrent ------------------------------------------------------------ */

/* Sizes of the recurrent kernels: T steps, B batch rows, I input features,
 * H hidden units (in this section only), Gn gates: 1 (RNN), 4 (LSTM: i f g o),
 * 3 (GRU: r z n).  Row b of step t of x is at x + t * xt + b * xb (I
 * contiguous), of y at y + t * yt + b * yb (H contiguous): time-major and
 * batch-first arrays need no copy.  Weights as PyTorch: w_ih (Gn H, I),
 * w_hh (Gn H, H).  Internal buffers are time-major (T, B, ...). */
typedef enum fc_rnn_cell { FC_RNN_TANH = 0, FC_RNN_RELU = 1, FC_LSTM = 2, FC_GRU = 3 } fc_rnn_cell;

typedef struct fc_rnn_geom {
    int64_t steps, batch, input, hidden; /* T, B, I, H (T is a macro in the kernel templates) */
    int64_t xt, xb, yt, yb;
    int cell;
} fc_rnn_geom;

/* ---- activations ------------------------------------------------------- */

typedef enum fc_activation {
    FC_ACT_SIGMOID = 0,
    FC_ACT_TANH = 1,
    FC_ACT_RELU = 2,
    FC_ACT_IDENTITY = 3 /* backward only */
} fc_activation;

/* ---- optimizer updates -------------------------------------------------- */

typedef enum fc_optimizer { FC_OPT_SGD = 0, FC_OPT_ADAGRAD = 1, FC_OPT_RMSPROP = 2, FC_OPT_ADAM = 3 } fc_optimizer;

/* ---- image filtering ---------------------------------------------------- */

typedef enum fc_boundary { FC_BOUNDARY_FILL = 0, FC_BOUNDARY_WRAP = 1, FC_BOUNDARY_SYMM = 2 } fc_boundary;

/* Correlation of N single-channel images (H, W) -> (P, Q) with a ky x kx
 * kernel: output (p, q) reads the extended input from (p - pad_top,
 * q - pad_left); fill is the value outside under FC_BOUNDARY_FILL. */
typedef struct fc_filter_geom {
    int64_t N, H, W, P, Q, ky, kx, pad_top, pad_left;
    int boundary;
} fc_filter_geom;

/* Boundary modes of the N-D 1-D filters (ndfilter.c), scipy.ndimage's codes:
 * for a line a b c d,  nearest  a a | a b c d | d d,   wrap  c d | a b c d | a b,
 * reflect  b a | a b c d | d c,   mirror  c b | a b c d | c b,   constant  k k | a b c d | k k. */
typedef enum fc_ndmode {
    FC_ND_NEAREST = 0,
    FC_ND_WRAP = 1,
    FC_ND_REFLECT = 2,
    FC_ND_MIRROR = 3,
    FC_ND_CONSTANT = 4
} fc_ndmode;

/* ---- the operations ------------------------------------------------------- */

/* Element type of an operation's arrays. */
typedef enum fc_dtype { FC_F32 = 0, FC_F64 = 1 } fc_dtype;

/* int fc_<stem>(int dtype, <parameters>) for every entry of ops.def, where
 * the parameters and each operation's contract are listed; the element
 * pointers are void * of dtype's type.  FC_ERR_ARG for another dtype. */
#define FC_WITH_DTYPE(...) (int dtype, __VA_ARGS__)
#define FC_E void
#define FC_OP(stem, params, args) int fc_##stem FC_WITH_DTYPE params;
#include "ops.def"
#undef FC_OP
#undef FC_E

#endif
