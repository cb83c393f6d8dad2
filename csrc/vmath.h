/* Vectorised exp, sigmoid and tanh for the recurrent kernels   (template)
 *
 * Included once per (ISA, element type) instance after template_begin.h.
 * Accuracy: a few ulps in float32 and float64 (tests/test_rnn.py measures
 * it).  Safe for every finite input: arguments are clamped where the result
 * saturates, so nothing overflows and no NaN comes out of a finite input.
 *
 * exp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part exact in
 * a product with n and a low part), e^r by a polynomial (float64: Taylor's,
 * degree 13, truncation below half an ulp; float32: a degree-6 minimax fit),
 * times 2^n (AVX-512's scalef, else built in the exponent bits).
 * tanh: |x| < 0.625: x + x u q(u), u = x^2, with q a Chebyshev-interpolated
 * fit of (tanh(x) / x - 1) / u (so tanh is exact to rounding near 0);
 * otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x.
 * sigmoid: 1 / (1 + exp(-x)).
 * The reciprocals: a divide, or in float32 with AVX-512 an estimate and a
 * Newton step (vrecip).
 */

#if FC_DOUBLE
#define VM_EXP_HI 709.0          /* e^709.78 overflows */
#define VM_EXP_LO -708.0         /* 2^-1022 */
#define VM_LN2_HI 6.93147180369123816490e-01
#define VM_LN2_LO 1.90821492927058770002e-10
#define VM_TANH_SAT 19.1         /* tanh(19.1) rounds to 1 */
#define VM_MANT 52
#define VM_BIAS 1023
#else
#define VM_EXP_HI 88.3f           /* keeps n <= 127 */
#define VM_EXP_LO -87.3f
#define VM_LN2_HI 0.693359375f
#define VM_LN2_LO -2.12194440e-4f
#define VM_TANH_SAT 9.1f          /* tanh rounds to 1 past ~9.01 */
#define VM_MANT 23
#define VM_BIAS 127
#endif

/* min(c, x) (hi = 1) or max(c, x) (hi = 0), a NaN x kept: one instruction where the ISA has it
 * (x86's min and max return their second operand when either is NaN), else a compare and a
 * select */
static inline V FCN(vbound)(V c, V x, int hi)
{
#if FC_VBYTES == 64 && FC_DOUBLE
    return (V)(hi ? _mm512_min_pd((__m512d)c, (__m512d)x) : _mm512_max_pd((__m512d)c, (__m512d)x));
#elif FC_VBYTES == 64
    return (V)(hi ? _mm512_min_ps((__m512)c, (__m512)x) : _mm512_max_ps((__m512)c, (__m512)x));
#elif FC_VBYTES == 32 && FC_DOUBLE
    return (V)(hi ? _mm256_min_pd((__m256d)c, (__m256d)x) : _mm256_max_pd((__m256d)c, (__m256d)x));
#elif FC_VBYTES == 32
    return (V)(hi ? _mm256_min_ps((__m256)c, (__m256)x) : _mm256_max_ps((__m256)c, (__m256)x));
#else
    return FCN(select)(hi ? (IV)(x > c) : (IV)(x < c), c, x);
#endif
}

/* e^x for x in [VM_EXP_LO, VM_EXP_HI] */
static inline V FCN(vexp_in)(V x)
{
    /* n = round(x / ln2) by adding and removing 1.5 * 2^MANT */
    const V magic = FCN(splat)((T)(1.5 * (double)(1LL << VM_MANT)));
    const V n = (x * (T)1.44269504088896340736 + magic) - magic;
    const V r = (x - n * (T)VM_LN2_HI) - n * (T)VM_LN2_LO;
#if FC_DOUBLE
    static const double c[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800,
                                 1.0 / 479001600, 1.0 / 6227020800.0};
#else
    /* a minimax fit of relative error 1.9e-9 over |r| <= ln2 / 2 (Lawson's iteration on a
     * fine grid), one term shorter than the Taylor polynomial of the same accuracy */
    static const float c[7] = {1.0f, 1.0f, 0.49999991059303284f, 0.16666419804096222f, 0.041668228805065155f,
                               0.008374855853617191f, 0.0013836775906383991f};
#endif
    const int deg = (int)(sizeof(c) / sizeof(c[0])) - 1;
    V p = FCN(splat)((T)c[deg]);
    for (int k = deg - 1; k >= 0; k--) p = p * r + (T)c[k];
#if FC_VBYTES == 64 /* p 2^n in one instruction */
    return FC_DOUBLE ? (V)_mm512_scalef_pd((__m512d)p, (__m512d)n) : (V)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
    /* 2^n: n in the exponent field (n is in [-1022, 1023] / [-126, 127]) */
    const IV e = (__builtin_convertvector(n, IV) + VM_BIAS) << VM_MANT;
    return p * (V)e;
#endif
}

static inline V FCN(vexp)(V x)
{
    return FCN(vexp_in)(FCN(vbound)(FCN(splat)((T)VM_EXP_LO), FCN(vbound)(FCN(splat)((T)VM_EXP_HI), x, 1), 0));
}

/* 1 / d for d >= 1 (finite): with AVX-512 in float32, the 14-bit reciprocal estimate and one
 * Newton step, r + r (1 - d r), whose error is the estimate's squared (2^-28) plus the last
 * rounding, so within an ulp of the quotient; a divide otherwise.  A 512-bit divide issues one
 * per several cycles and the LSTM's cell takes five (they were a quarter of its gate time). */
static inline V FCN(vrecip)(V d)
{
#if FC_VBYTES == 64 && !FC_DOUBLE
    const V r = (V)_mm512_rcp14_ps((__m512)d);
    return r + r * ((T)1 - d * r);
#else
    return (T)1 / d;
#endif
}

static inline V FCN(vsigmoid)(V x) { return FCN(vrecip)((T)1 + FCN(vexp)(-x)); }

static inline V FCN(vtanh)(V x)
{
    const IV sign = (IV)x & (IV)FCN(splat)((T)-0.0);
    V a = (V)((IV)x & ~(IV)FCN(splat)((T)-0.0)); /* |x| */
    a = FCN(vbound)(FCN(splat)((T)VM_TANH_SAT), a, 1);
    const V u = a * a;
#if FC_DOUBLE
    static const double q[10] = {-0.33333333333335935, 0.13333333333514572, -0.053968253965537116,
                                 0.02186948655231292, -0.008863186702584267, 0.0035915688696337893,
                                 -0.0014521823296000005, 0.000575536365568, -0.00020393813344256,
                                 4.6478418090393616e-05};
#else
    static const float q[5] = {-0.33333328944133916f, 0.13332769736967368f, -0.053850909577782546f,
                               0.02099717899673014f, -0.0060967141633344836f};
#endif
    const int deg = (int)(sizeof(q) / sizeof(q[0])) - 1;
    V p = FCN(splat)((T)q[deg]);
    for (int k = deg - 1; k >= 0; k--) p = p * u + (T)q[k];
    const V small = a + a * u * p;
    const V large = (T)1 - (T)2 * FCN(vrecip)(FCN(vexp_in)(a + a) + (T)1); /* 2 |x| <= 2 VM_TANH_SAT */
    const V t = FCN(select)((IV)(a < (T)0.625), small, large);
    return (V)((IV)t | sign);
}

#undef VM_EXP_HI
#undef VM_EXP_LO
#undef VM_LN2_HI
#undef VM_LN2_LO
#undef VM_TANH_SAT
#undef VM_MANT
#undef VM_BIAS
