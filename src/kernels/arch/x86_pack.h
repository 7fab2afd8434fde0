/* The AVX-512 packed-prefill functions (x86_avx512_pack.c) for the avx512 kern_isa table. */
#ifndef EDGELLM_X86_PACK_H
#define EDGELLM_X86_PACK_H

#include "kernels/kernels.h"

void kp_pack_q4_0(int k, const void *w, size_t nbw, void *dst);
void kp_pack_q8_0(int k, const void *w, size_t nbw, void *dst);
void kp_pack_q5_0(int k, const void *w, size_t nbw, void *dst);
void kp_pack_q4_K(int k, const void *w, size_t nbw, void *dst);
void kp_pack_q6_K(int k, const void *w, size_t nbw, void *dst);
void kp_pack_x4_q4_0(int k, const void *w, size_t nbw, void *dst); /* from KERN_LAYOUT_X4 */
void kp_pack_x4_q8_0(int k, const void *w, size_t nbw, void *dst);
void kp_tile_q4_0(int k, const void *packed, int ng, const void *x, size_t nbx, const struct kern_aux *aux, size_t naux,
                  int nc, float *s, size_t lds);
void kp_tile_q8_0(int k, const void *packed, int ng, const void *x, size_t nbx, const struct kern_aux *aux, size_t naux,
                  int nc, float *s, size_t lds);
void kp_tile_q4_K(int k, const void *packed, int ng, const void *x, size_t nbx, const struct kern_aux *aux, size_t naux,
                  int nc, float *s, size_t lds);
void kp_tile_q6_K(int k, const void *packed, int ng, const void *x, size_t nbx, const struct kern_aux *aux, size_t naux,
                  int nc, float *s, size_t lds);
void kp_tile_q5_0(int k, const void *packed, int ng, const void *x, size_t nbx, const struct kern_aux *aux, size_t naux,
                  int nc, float *s, size_t lds);
#endif
