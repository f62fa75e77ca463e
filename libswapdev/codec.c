/* SPDX-License-Identifier: MIT */
/*
 * codec.c - lz4 and zstd page compression behind one interface.
 *
 * Each codec_ctx carries what one thread needs for every page: an lz4
 * state (so LZ4_compress_fast_extState never allocates), a zstd
 * compression and a decompression context. The zstd frames are written
 * without dictionary id or content size: a slot already knows its length
 * and that it holds one 4 KiB page, and every byte saved is pool memory.
 * They do carry zstd's content checksum (4 bytes, XXH64, checked by the
 * decoder): zstd entries are the ones that sit in the pool longest (idle
 * recompression makes them), and without it a damaged literal decodes to
 * a page of the right length and wrong bytes, handed out as good data.
 * lz4's block format has no such field; its entries are unchecked. The
 * compression level is set on the context only when it changes, so the
 * common case is one call into the library.
 *
 * Library errors become errno here and nowhere else: output that does not
 * fit the caller's limit is -ENOBUFS (incompressible), input that does not
 * decode to exactly the expected length is -EBADMSG.
 */
#include <lz4.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"
#include "common.h"

struct codec_ctx {
	ZSTD_CCtx *zstd_c;
	ZSTD_DCtx *zstd_d;
	int zstd_level; /* level currently set on zstd_c */
	void *lz4_state;
};

static const char *const codec_names[] = {
	[CODEC_LZ4] = "lz4",
	[CODEC_ZSTD] = "zstd",
};

const char *codec_kind_name(enum codec_kind kind)
{
	return (unsigned)kind < ARRAY_SIZE(codec_names) ? codec_names[kind] : "unknown";
}

static bool zstd_level_valid(long level)
{
	return (level >= 1 && level <= 19) || (level >= -5 && level <= -1);
}

int codec_spec_parse(const char *text, struct codec_spec *ret_spec)
{
	const char *level_text;
	char *end;
	long level;

	if (strcmp(text, "lz4") == 0) {
		*ret_spec = (struct codec_spec){ .kind = CODEC_LZ4, .level = 0 };
		return 0;
	}
	if (strcmp(text, "zstd") == 0) {
		*ret_spec = (struct codec_spec){ .kind = CODEC_ZSTD,
						 .level = CODEC_ZSTD_DEFAULT_LEVEL };
		return 0;
	}
	if (strncmp(text, "zstd:", 5) != 0)
		return -EINVAL;
	level_text = text + 5;
	if (*level_text == '\0')
		return -EINVAL;
	errno = 0;
	level = strtol(level_text, &end, 10);
	if (errno != 0 || *end != '\0' || !zstd_level_valid(level))
		return -EINVAL;
	*ret_spec = (struct codec_spec){ .kind = CODEC_ZSTD, .level = (int)level };
	return 0;
}

void codec_spec_format(const struct codec_spec *spec, char buf[static CODEC_SPEC_MAX])
{
	if (spec->kind == CODEC_ZSTD)
		snprintf(buf, CODEC_SPEC_MAX, "zstd:%d", spec->level);
	else
		snprintf(buf, CODEC_SPEC_MAX, "%s", codec_kind_name(spec->kind));
}

void codec_ctx_free(struct codec_ctx *ctx)
{
	if (!ctx)
		return;
	ZSTD_freeCCtx(ctx->zstd_c);
	ZSTD_freeDCtx(ctx->zstd_d);
	free(ctx->lz4_state);
	free(ctx);
}

int codec_ctx_new(struct codec_ctx **ret_ctx)
{
	struct codec_ctx *ctx;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->zstd_c = ZSTD_createCCtx();
	ctx->zstd_d = ZSTD_createDCtx();
	ctx->lz4_state = aligned_alloc(8, ALIGN_UP((size_t)LZ4_sizeofState(), 8));
	if (!ctx->zstd_c || !ctx->zstd_d || !ctx->lz4_state)
		goto fail;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(ctx->zstd_c, ZSTD_c_contentSizeFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(ctx->zstd_c, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(ctx->zstd_c, ZSTD_c_dictIDFlag, 0)))
		goto fail;
	*ret_ctx = ctx;
	return 0;
fail:
	codec_ctx_free(ctx);
	return -ENOMEM;
}

static ssize_t zstd_compress(struct codec_ctx *ctx, int level, const void *src, size_t src_len,
			     void *dst, size_t dst_cap)
{
	size_t r;

	if (level != ctx->zstd_level) {
		r = ZSTD_CCtx_setParameter(ctx->zstd_c, ZSTD_c_compressionLevel, level);
		if (ZSTD_isError(r))
			return -EINVAL;
		ctx->zstd_level = level;
	}
	r = ZSTD_compress2(ctx->zstd_c, dst, dst_cap, src, src_len);
	if (ZSTD_isError(r)) {
		/* The context is left mid-frame after an error: start afresh. */
		ZSTD_CCtx_reset(ctx->zstd_c, ZSTD_reset_session_only);
		return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? -ENOBUFS : -EINVAL;
	}
	return (ssize_t)r;
}

ssize_t codec_compress(struct codec_ctx *ctx, const struct codec_spec *spec, const void *src,
		       size_t src_len, void *dst, size_t dst_cap)
{
	int n;

	if (src_len == 0 || src_len > INT32_MAX || dst_cap == 0)
		return -EINVAL;
	switch (spec->kind) {
	case CODEC_LZ4:
		n = LZ4_compress_fast_extState(ctx->lz4_state, src, dst, (int)src_len,
					       (int)MIN(dst_cap, (size_t)INT32_MAX), 1);
		return n > 0 ? n : -ENOBUFS;
	case CODEC_ZSTD:
		if (!zstd_level_valid(spec->level))
			return -EINVAL;
		return zstd_compress(ctx, spec->level, src, src_len, dst, dst_cap);
	}
	return -EINVAL;
}

ssize_t codec_decompress(struct codec_ctx *ctx, enum codec_kind kind, const void *src,
			 size_t src_len, void *dst, size_t dst_len)
{
	size_t r;
	int n;

	if (src_len == 0 || src_len > INT32_MAX || dst_len > INT32_MAX)
		return -EINVAL;
	switch (kind) {
	case CODEC_LZ4:
		n = LZ4_decompress_safe(src, dst, (int)src_len, (int)dst_len);
		return n == (int)dst_len ? (ssize_t)dst_len : -EBADMSG;
	case CODEC_ZSTD:
		r = ZSTD_decompressDCtx(ctx->zstd_d, dst, dst_len, src, src_len);
		if (ZSTD_isError(r)) {
			ZSTD_DCtx_reset(ctx->zstd_d, ZSTD_reset_session_only);
			return -EBADMSG;
		}
		return r == dst_len ? (ssize_t)dst_len : -EBADMSG;
	}
	return -EINVAL;
}

bool page_same_filled(const void *page, uint64_t *ret_word)
{
	const uint64_t *w = page;
	uint64_t first = w[0];
	size_t i;

	/* Most pages differ early; check the last word before the sweep. */
	if (w[SWAPDEV_PAGE_SIZE / 8 - 1] != first)
		return false;
	for (i = 1; i < SWAPDEV_PAGE_SIZE / 8; i++)
		if (w[i] != first)
			return false;
	*ret_word = first;
	return true;
}
