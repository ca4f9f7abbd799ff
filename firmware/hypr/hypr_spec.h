/* Generated from hypr_edge/fixed/spec.py by hypr_edge.codegen.render.spec_header(): do not edit. After
 * a change there: python -c 'import hypr_edge.codegen.render as r; print(r.spec_header(), end="")' \
 *     > firmware/hypr/hypr_spec.h
 * The model-independent constants of docs/fixed-point.md (§2, §5, §6, §7). */
#ifndef HYPR_SPEC_H
#define HYPR_SPEC_H

#define FA                    24                     /* constants, Jacobian entries, psi, g, Phi: Q8.24 in int32 */
#define FQ                    20                     /* learning signals eps, L, q and chunk gradients: Q.20 */
#define FEO                   14                     /* readout eligibilities: int16 Q1.14 */
#define A_MAX                 268435455LL            /* |A|, |g| saturate here */
#define G_MAX                 140737488355327LL      /* the chunk gradient saturates here */
#define G1_MAX                274877906943LL         /* sum_t q x >> fx saturates here before the product with c0 */
#define LUT_BITS              8                      /* 2^LUT_BITS linear segments in every lookup table */
#define LOG2E_Q               24204406LL             /* log2(e) in Q.FA */
#define XORSHIFT_DEFAULT_SEED 0x2545f491u            /* the PRNG seed of a model that names none */

#endif
