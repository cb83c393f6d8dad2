/* Vectorised exp, sigmoid and tanh for the recurrent kernels   (template)
 *
 * Included once per (ISA, element type) instance after template_begin.h.
 * Accuracy: a few ulps in float32 and float64 (tests/test_rnn.py measures
 * it).  Safe for every finite input: arguments are clamped where the result
 * saturates, so nothing overflows and no NaN comes out of a finite input.
 *
 * exp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part exact in
 * a product with n and a low part), e^r by its Taylor polynomial (degree 7
 * in float32, 13 in float64: truncation below half an ulp), times 2^n built
 * in the exponent bits.
 * tanh: |x| < 0.625: x + x u q(u), u = x^2, with q a Chebyshev-interpolated
 * fit of (tanh(x) / x - 1) / u (so tanh is exact to rounding near 0);
 * otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x.
 * sigmoid: 1 / (1 + exp(-x)).
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

static inline V FCN(vexp)(V x)
{
    const V hi = FCN(splat)((T)VM_EXP_HI), lo = FCN(splat)((T)VM_EXP_LO);
    x = FCN(select)((IV)(x > hi), hi, x);
    x = FCN(select)((IV)(x < lo), lo, x);
    /* n = round(x / ln2) by adding and removing 1.5 * 2^MANT */
    const V magic = FCN(splat)((T)(1.5 * (double)(1LL << VM_MANT)));
    const V n = (x * (T)1.44269504088896340736 + magic) - magic;
    const V r = (x - n * (T)VM_LN2_HI) - n * (T)VM_LN2_LO;
#if FC_DOUBLE
    static const double c[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800,
                                 1.0 / 479001600, 1.0 / 6227020800.0};
#else
    static const float c[8] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
#endif
    const int deg = (int)(sizeof(c) / sizeof(c[0])) - 1;
    V p = FCN(splat)((T)c[deg]);
    for (int k = deg - 1; k >= 0; k--) p = p * r + (T)c[k];
    /* 2^n: n in the exponent field (n is in [-1022, 1023] / [-126, 127]) */
    const IV e = (__builtin_convertvector(n, IV) + VM_BIAS) << VM_MANT;
    return p * (V)e;
}

static inline V FCN(vsigmoid)(V x) { return (T)1 / ((T)1 + FCN(vexp)(-x)); }

static inline V FCN(vtanh)(V x)
{
    const IV sign = (IV)x & (IV)FCN(splat)((T)-0.0);
    V a = (V)((IV)x & ~(IV)FCN(splat)((T)-0.0)); /* |x| */
    a = FCN(select)((IV)(a > (T)VM_TANH_SAT), FCN(splat)((T)VM_TANH_SAT), a);
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
    const V large = (T)1 - (T)2 / (FCN(vexp)(a + a) + (T)1);
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
