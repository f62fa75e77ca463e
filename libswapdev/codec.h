/* SPDX-License-Identifier: MIT */
/*
 * codec.h - page compression behind one interface (lz4, zstd:LEVEL).
 *
 * A codec_ctx holds the compression contexts and scratch state of one
 * thread; it is created once per worker thread and reused for every page,
 * so nothing is allocated per call. Errors from liblz4 and libzstd are
 * mapped to errno here and nowhere else:
 *   -ENOBUFS   the page does not compress below the caller's limit
 *              (incompressible)
 *   -EBADMSG   the compressed input is corrupt or does not expand to
 *              exactly the expected length
 *   -EINVAL    bad arguments (unknown codec, level out of range)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum codec_kind {
	CODEC_LZ4 = 0,
	CODEC_ZSTD = 1,
};

struct codec_spec {
	enum codec_kind kind;
	int level; /* zstd only: 1..19 (negative fast levels: -5..-1) */
};

#define CODEC_ZSTD_DEFAULT_LEVEL 3
#define CODEC_SPEC_MAX 16 /* "zstd:-5" plus NUL fits easily */

/* Parse "lz4", "zstd" or "zstd:LEVEL". Returns 0 or -EINVAL. */
int codec_spec_parse(const char *text, struct codec_spec *ret_spec);

/* Write the canonical text of spec ("lz4", "zstd:3") into buf. */
void codec_spec_format(const struct codec_spec *spec, char buf[static CODEC_SPEC_MAX]);

const char *codec_kind_name(enum codec_kind kind);

struct codec_ctx;

/* Returns 0 or -ENOMEM. */
int codec_ctx_new(struct codec_ctx **ret_ctx);
void codec_ctx_free(struct codec_ctx *ctx); /* accepts NULL */

/*
 * Compress src_len bytes into dst, which has room for dst_cap bytes.
 * Returns the compressed length (> 0), -ENOBUFS when the result would
 * exceed dst_cap (the page is incompressible at that limit), -EINVAL.
 */
ssize_t codec_compress(struct codec_ctx *ctx, const struct codec_spec *spec, const void *src,
		       size_t src_len, void *dst, size_t dst_cap);

/*
 * Decompress src into dst, which must come out at exactly dst_len bytes.
 * Returns dst_len, or -EBADMSG for corrupt input, -EINVAL.
 */
ssize_t codec_decompress(struct codec_ctx *ctx, enum codec_kind kind, const void *src,
			 size_t src_len, void *dst, size_t dst_len);

/*
 * Same-filled detection: true when the page is one 8-byte word repeated,
 * with that word in *ret_word.
 */
bool page_same_filled(const void *page, uint64_t *ret_word);
