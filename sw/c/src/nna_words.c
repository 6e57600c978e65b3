/* Float <-> raw data words, following the ap_fixed conversion from float that the
 * accelerator's top applies (the float is exact in double; rounding and overflow modes of
 * the word type decide the raw pattern). Words are little-endian, `bytes` each. */
#include <math.h>
#include <string.h>

#include "nna.h"

static double round_mode(double s, unsigned mode) {
    double f = floor(s);
    double d = s - f; /* exact: s and f share the exponent range */
    switch (mode) {
    case NNA_Q_TRN: return f;
    case NNA_Q_TRN_ZERO: return s < 0 ? ceil(s) : f;
    case NNA_Q_RND: return d >= 0.5 ? f + 1 : f;
    case NNA_Q_RND_ZERO: return d > 0.5 || (d == 0.5 && s < 0) ? f + 1 : f;
    case NNA_Q_RND_MIN_INF: return d > 0.5 ? f + 1 : f;
    case NNA_Q_RND_INF: return d > 0.5 || (d == 0.5 && s > 0) ? f + 1 : f;
    case NNA_Q_RND_CONV: return d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0) ? f + 1 : f;
    default: return f;
    }
}

static uint32_t fixed_bits(const nna_word_t *w, float x) {
    const unsigned bits = w->bits;
    const double span = ldexp(1.0, (int)bits);
    const double hi = w->is_signed ? ldexp(1.0, (int)bits - 1) - 1 : span - 1;
    double lo = w->is_signed ? -ldexp(1.0, (int)bits - 1) : 0.0;
    double q;
    /* ap_fixed's conversion from double reads inf and NaN as +-1.f * 2^1024 (sign from the sign
     * bit), as nnaccel's quantiser does: saturating modes clamp, AP_WRAP keeps no bit of it */
    if (isnan(x)) x = signbit(x) ? -INFINITY : INFINITY;
    q = round_mode(ldexp((double)x, (int)bits - w->integer), w->rounding);
    if (q > hi || q < lo) {
        switch (w->saturation) {
        case NNA_O_SAT_ZERO: q = 0; break;
        case NNA_O_SAT_SYM:
            if (w->is_signed) lo = -hi;
            /* fall through */
        case NNA_O_SAT: q = q > hi ? hi : lo; break;
        default: /* AP_WRAP: keep the low `bits` bits */
            if (isinf(q)) { /* 2^1024 has no bits inside the word (fmod(inf) would be NaN) */
                q = 0;
                break;
            }
            q = fmod(q, span);
            if (q < 0) q += span;
            break;
        }
    }
    if (q < 0) q += span; /* two's complement pattern */
    return (uint32_t)(uint64_t)q;
}

static void put_le(uint8_t *p, uint32_t v, unsigned bytes) {
    unsigned b;
    for (b = 0; b < bytes; b++) p[b] = (uint8_t)(v >> (8 * b));
}

static uint32_t get_le(const uint8_t *p, unsigned bytes) {
    uint32_t v = 0;
    unsigned b;
    for (b = 0; b < bytes; b++) v |= (uint32_t)p[b] << (8 * b);
    return v;
}

void nna_encode_words(const nna_word_t *w, const float *src, void *dst, size_t count) {
    uint8_t *out = (uint8_t *)dst;
    size_t i;
    for (i = 0; i < count; i++, out += w->bytes) {
        if (w->is_float) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            put_le(out, u, 4);
        } else {
            put_le(out, fixed_bits(w, src[i]), w->bytes);
        }
    }
}

void nna_decode_words(const nna_word_t *w, const void *src, float *dst, size_t count) {
    const uint8_t *in = (const uint8_t *)src;
    size_t i;
    for (i = 0; i < count; i++, in += w->bytes) {
        uint32_t u = get_le(in, w->bytes);
        if (w->is_float) {
            memcpy(&dst[i], &u, 4);
        } else {
            double v;
            if (w->bits < 32) u &= (1u << w->bits) - 1u;
            if (w->is_signed && (u >> (w->bits - 1)) & 1u)
                v = (double)u - ldexp(1.0, w->bits);
            else
                v = (double)u;
            dst[i] = (float)ldexp(v, w->integer - (int)w->bits);
        }
    }
}
