/* One (ISA, element type) instance of the compute templates: included by
 * isa_body.h once per element type, with FC_T, FC_SFX and FC_DOUBLE set. */
#include "template_begin.h"
#include "gemm.c"
#include "conv_im2col.c"
#include "conv_common.h"
#include "conv_cv.c"
#include "conv_direct.c"
#include "conv_direct_forward.c"
#include "conv_direct_backward_input.c"
#include "conv_direct_backward_weight.c"
#include "conv_winograd.c"
#include "conv_winograd1d.c"
#include "conv_winograd_s2.c"
#include "conv_winograd_k.c"
#include "pool.c"
#include "vmath.h"
#include "rnn.c"
#include "activation.c"
#include "optim.c"
#include "filter.c"
#include "ndfilter.c"

enum { FCN(gemm_mr) = GEMM_MR, FCN(gemm_nr) = GEMM_NR };

/* The entry points check the geometry and put it in canonical form first
 * (fc_conv_prepare: sparse geometries run on im2col). */
static int FCN(conv2d_forward)(int algo, T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g0,
                               int nthreads)
{
    fc_conv_geom g;
    if (fc_conv_prepare(g0, &g, &algo)) return FC_ERR_GEOM;
    if (algo == FC_ALGO_WINOGRAD && (fc_winograd_fits(&g) || fc_winograd_s2_fits(&g))) {
        fc_wg_geo q;
        int m2;
        if (FCN(wgk_takes)(&g, &q, &m2)) /* (few tiles: the output channels as the lanes) */
            return FCN(conv_winograd_k_forward)(y, x, w, bias, &q, m2, 0, nthreads);
        if (fc_winograd_fits(&g)) return FCN(conv_winograd_forward)(y, x, w, bias, &g, nthreads);
        return FCN(conv_winograd_s2_forward)(y, x, w, bias, &g, nthreads);
    }
    if (algo == FC_ALGO_WINOGRAD && fc_winograd1d_fits(&g))
        return FCN(conv_winograd1d_forward)(y, x, w, bias, &g, nthreads);
    if (algo == FC_ALGO_DIRECT || algo == FC_ALGO_WINOGRAD) return FCN(conv_direct_forward)(y, x, w, bias, &g, nthreads);
    return FCN(conv_im2col_forward)(y, x, w, bias, &g, nthreads);
}

static int FCN(conv2d_backward_input)(int algo, T *dx, const T *dy, const T *w, const fc_conv_geom *g0,
                                      int nthreads)
{
    fc_conv_geom g;
    if (fc_conv_prepare(g0, &g, &algo)) return FC_ERR_GEOM;
    /* dx overwritten: zeroed first for the kernels that add into it (the strided depthwise
     * planes and the pointwise GEMM store every element) */
    const size_t bytes = (size_t)(g.N * g.C * g.H * g.W) * sizeof(T);
    if (algo == FC_ALGO_WINOGRAD && fc_winograd1d_grad_fits(&g)) /* (every element stored) */
        return FCN(conv_winograd1d_backward_input)(dx, dy, w, &g, nthreads);
    if (algo == FC_ALGO_WINOGRAD && fc_winograd_fits(&g)) {
        fc_wg_geo q;
        if (FCN(wgk_takes_input)(&g, &q)) /* (few tiles: every element stored) */
            return FCN(conv_winograd_k_forward)(dx, dy, w, NULL, &q, 0, 1, nthreads);
        memset(dx, 0, bytes);
        return FCN(conv_winograd_backward_input)(dx, dy, w, &g, nthreads);
    }
    if (algo == FC_ALGO_DIRECT || algo == FC_ALGO_WINOGRAD) {
        if (!FCN(direct_dw_stride2)(&g)) memset(dx, 0, bytes);
        return FCN(conv_direct_backward_input)(dx, dy, w, &g, nthreads);
    }
    if (!fc_conv_plain_1x1(&g)) memset(dx, 0, bytes);
    return FCN(conv_im2col_backward_input)(dx, dy, w, &g, nthreads);
}

static int FCN(conv2d_backward_weight)(int algo, T *dw, const T *dy, const T *x, const fc_conv_geom *g0,
                                       int nthreads)
{
    fc_conv_geom g;
    if (fc_conv_prepare(g0, &g, &algo)) return FC_ERR_GEOM;
    if (algo != FC_ALGO_DIRECT && algo != FC_ALGO_WINOGRAD) return FCN(conv_im2col_backward_weight)(dw, dy, x, &g, nthreads);
    /* (the other algorithms add into dw) */
    memset(dw, 0, (size_t)(g.K * (g.C / g.G) * g.R * g.S) * sizeof(T));
    if (algo == FC_ALGO_WINOGRAD && fc_winograd_fits(&g)) return FCN(conv_winograd_backward_weight)(dw, dy, x, &g, nthreads);
    return FCN(conv_direct_backward_weight)(dw, dy, x, &g, nthreads);
}

/* The table's entries: each operation of ops.def with void element
 * pointers, calling its definition FCN(stem) (which the compiler checks
 * against the list's parameters). */
#define FC_E void
#define FC_OP(stem, params, args) \
    static int FCN(stem##_entry) params { return FCN(stem) args; }
#include "ops.def"
#undef FC_OP
#undef FC_E
#include "template_end.h"
