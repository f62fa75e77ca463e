/* SPDX-License-Identifier: MIT */
/*
 * fuzz-codec.c - libFuzzer target for the page codec.
 *
 * Input layout: byte 0 picks the codec (even lz4, odd zstd), byte 1 the
 * zstd level (-5..19), bytes 2-3 the caller's limit for the compressed
 * size (1..4096); the rest is the payload. Three properties are checked:
 *
 *  - round trip: a page made of the payload (repeated to 4 KiB, so short
 *    inputs still give compressible pages) compresses to at most the
 *    limit or says -ENOBUFS, and what it compressed to decompresses to
 *    exactly the page; the payload at its own length does the same.
 *  - hostile input: the payload given to codec_decompress() of both
 *    kinds, as if a pool object were corrupt, returns the exact length
 *    asked for or -EBADMSG (-EINVAL for an empty one), never more, and
 *    never writes past the buffer (ASan); the codec context keeps working
 *    afterwards, which the next round trip checks.
 *  - page_same_filled() agrees with a plain comparison of every word.
 *
 * One codec_ctx serves every input, as one worker thread's context serves
 * every page in the daemon; state left behind by a corrupt input would
 * show up as a round-trip failure later.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "common.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define HEADER 4
#define RAW_MAX 65536
/* Room for incompressible raw input: lz4 and zstd both stay under this. */
#define RAW_CAP (RAW_MAX + RAW_MAX / 64 + 1024)

static struct codec_ctx *ctx;
static uint8_t page[SWAPDEV_PAGE_SIZE], out[RAW_MAX], compressed[RAW_CAP];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	CHECK(codec_ctx_new(&ctx) == 0);
	return 0;
}

static void round_trip(const struct codec_spec *spec, const uint8_t *src, size_t len, size_t cap)
{
	ssize_t n, m;

	n = codec_compress(ctx, spec, src, len, compressed, cap);
	CHECK(n == -ENOBUFS || (n > 0 && (size_t)n <= cap));
	if (n < 0)
		return;
	memset(out, 0xa5, len);
	m = codec_decompress(ctx, spec->kind, compressed, (size_t)n, out, len);
	CHECK(m == (ssize_t)len);
	CHECK(memcmp(out, src, len) == 0);
}

static void hostile(enum codec_kind kind, const uint8_t *src, size_t len, size_t dst_len)
{
	static uint8_t guard[SWAPDEV_PAGE_SIZE + 64];
	ssize_t n;

	memset(guard, 0x5a, sizeof(guard));
	n = codec_decompress(ctx, kind, src, len, guard, dst_len);
	if (len == 0)
		CHECK(n == -EINVAL);
	else
		CHECK(n == (ssize_t)dst_len || n == -EBADMSG);
	for (size_t i = dst_len; i < sizeof(guard); i++)
		CHECK(guard[i] == 0x5a);
}

static void same_filled(const uint8_t *p)
{
	uint64_t first, word, got = 0;
	bool same = true;

	memcpy(&first, p, 8);
	for (size_t i = 8; i < SWAPDEV_PAGE_SIZE && same; i += 8) {
		memcpy(&word, p + i, 8);
		same = word == first;
	}
	CHECK(page_same_filled(p, &got) == same);
	CHECK(!same || got == first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct codec_spec spec;
	const uint8_t *payload;
	size_t len, cap, dst_len;

	if (size < HEADER)
		return 0;
	spec.kind = data[0] % 2 ? CODEC_ZSTD : CODEC_LZ4;
	spec.level = spec.kind == CODEC_ZSTD ? data[1] % 25 - 5 : 0;
	if (spec.kind == CODEC_ZSTD && spec.level == 0)
		spec.level = CODEC_ZSTD_DEFAULT_LEVEL;
	cap = ((size_t)data[2] << 8 | data[3]) % SWAPDEV_PAGE_SIZE + 1;
	payload = data + HEADER;
	len = MIN(size - HEADER, (size_t)RAW_MAX);

	/* A page built from the payload, as the store compresses them. */
	if (len == 0) {
		memset(page, 0, sizeof(page));
	} else {
		for (size_t off = 0; off < sizeof(page); off += len)
			memcpy(page + off, payload, MIN(len, sizeof(page) - off));
	}
	same_filled(page);
	round_trip(&spec, page, sizeof(page), cap);

	/* The payload as a corrupt pool object, for both decoders. */
	dst_len = data[3] % 2 ? SWAPDEV_PAGE_SIZE : cap;
	hostile(CODEC_LZ4, payload, len, dst_len);
	hostile(CODEC_ZSTD, payload, len, dst_len);

	/* The payload itself, at its own length. */
	if (len > 0)
		round_trip(&spec, payload, len, RAW_CAP);
	/* The context still works after the hostile input. */
	round_trip(&spec, page, sizeof(page), SWAPDEV_PAGE_SIZE);
	return 0;
}
