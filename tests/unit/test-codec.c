/* SPDX-License-Identifier: MIT */
/* test-codec.c - codec specs, round trips, incompressible and corrupt input. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <string.h>

#include "../common/pagegen.h"
#include "codec.h"
#include "common.h"

struct spec_case {
	const char *text;
	int expect;
	enum codec_kind kind;
	int level;
	const char *canonical;
};

Test(codec, spec_parse_and_format)
{
	static const struct spec_case cases[] = {
		{ "lz4", 0, CODEC_LZ4, 0, "lz4" },
		{ "zstd", 0, CODEC_ZSTD, CODEC_ZSTD_DEFAULT_LEVEL, "zstd:3" },
		{ "zstd:1", 0, CODEC_ZSTD, 1, "zstd:1" },
		{ "zstd:19", 0, CODEC_ZSTD, 19, "zstd:19" },
		{ "zstd:-5", 0, CODEC_ZSTD, -5, "zstd:-5" },
		{ "zstd:0", -EINVAL },
		{ "zstd:20", -EINVAL },
		{ "zstd:-6", -EINVAL },
		{ "zstd:", -EINVAL },
		{ "zstd:3x", -EINVAL },
		{ "zstd:99999999999999999999", -EINVAL },
		{ "LZ4", -EINVAL },
		{ "lzo", -EINVAL },
		{ "", -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct codec_spec spec = { .kind = CODEC_LZ4, .level = 42 };
		char text[CODEC_SPEC_MAX];

		cr_assert_eq(codec_spec_parse(cases[i].text, &spec), cases[i].expect, "'%s'",
			     cases[i].text);
		if (cases[i].expect < 0) {
			cr_assert_eq(spec.level, 42, "'%s': output touched on failure", cases[i].text);
			continue;
		}
		cr_assert_eq(spec.kind, cases[i].kind);
		cr_assert_eq(spec.level, cases[i].level);
		codec_spec_format(&spec, text);
		cr_assert_str_eq(text, cases[i].canonical);
	}
}

static const struct codec_spec specs[] = {
	{ CODEC_LZ4, 0 },
	{ CODEC_ZSTD, 1 },
	{ CODEC_ZSTD, 3 },
	{ CODEC_ZSTD, -5 },
	{ CODEC_ZSTD, 19 },
};

Test(codec, round_trip_every_page_kind)
{
	struct codec_ctx *ctx;
	unsigned char page[4096], out[4096], back[4096];

	cr_assert_eq(codec_ctx_new(&ctx), 0);
	for (size_t s = 0; s < ARRAY_SIZE(specs); s++)
		for (int kind = PAGE_TEXT; kind < PAGE_KINDS; kind++)
			for (uint64_t seed = 1; seed < 20; seed++) {
				ssize_t n;

				pagegen_fill_kind(page, 4096, kind, seed);
				n = codec_compress(ctx, &specs[s], page, 4096, out, sizeof(out));
				if (kind == PAGE_RANDOM) {
					cr_assert(n == -ENOBUFS || n > 4000, "random page to %zd", n);
					if (n < 0)
						continue;
				}
				cr_assert_gt(n, 0, "spec %zu kind %d: %zd", s, kind, n);
				if (kind != PAGE_RANDOM)
					cr_assert_lt(n, 3000, "spec %zu kind %d compressed to %zd", s,
						     kind, n);
				cr_assert_eq(codec_decompress(ctx, specs[s].kind, out, (size_t)n, back,
							      4096),
					     4096);
				cr_assert_arr_eq(back, page, 4096);
			}
	codec_ctx_free(ctx);
}

Test(codec, incompressible_is_enobufs)
{
	struct codec_ctx *ctx;
	unsigned char page[4096], out[4096];

	cr_assert_eq(codec_ctx_new(&ctx), 0);
	pagegen_fill_kind(page, 4096, PAGE_RANDOM, 9);
	for (size_t s = 0; s < ARRAY_SIZE(specs); s++)
		cr_assert_eq(codec_compress(ctx, &specs[s], page, 4096, out, 3584), -ENOBUFS);
	/* The context is still usable after a refusal. */
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 9);
	for (size_t s = 0; s < ARRAY_SIZE(specs); s++)
		cr_assert_gt(codec_compress(ctx, &specs[s], page, 4096, out, 3584), 0);
	codec_ctx_free(ctx);
}

Test(codec, corrupt_input_is_ebadmsg)
{
	struct codec_ctx *ctx;
	unsigned char page[4096], out[4096], back[4096];

	cr_assert_eq(codec_ctx_new(&ctx), 0);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 3);
	for (size_t s = 0; s < ARRAY_SIZE(specs); s++) {
		ssize_t n = codec_compress(ctx, &specs[s], page, 4096, out, sizeof(out));

		cr_assert_gt(n, 16);
		/* Truncated input. */
		cr_assert_eq(codec_decompress(ctx, specs[s].kind, out, (size_t)n / 2, back, 4096),
			     -EBADMSG, "spec %zu truncated", s);
		/* Wrong expected length. */
		cr_assert_eq(codec_decompress(ctx, specs[s].kind, out, (size_t)n, back, 2048),
			     -EBADMSG, "spec %zu short output", s);
		/* Garbage. */
		memset(out, 0xff, (size_t)n);
		cr_assert_eq(codec_decompress(ctx, specs[s].kind, out, (size_t)n, back, 4096),
			     -EBADMSG, "spec %zu garbage", s);
		/* A good page still decodes after the errors. */
		n = codec_compress(ctx, &specs[s], page, 4096, out, sizeof(out));
		cr_assert_eq(codec_decompress(ctx, specs[s].kind, out, (size_t)n, back, 4096), 4096);
	}
	codec_ctx_free(ctx);
}

Test(codec, bad_arguments)
{
	struct codec_ctx *ctx;
	struct codec_spec bad_level = { CODEC_ZSTD, 0 }, bad_kind = { (enum codec_kind)7, 0 };
	unsigned char page[4096] = { 1 }, out[4096];

	cr_assert_eq(codec_ctx_new(&ctx), 0);
	cr_assert_eq(codec_compress(ctx, &bad_level, page, 4096, out, 4096), -EINVAL);
	cr_assert_eq(codec_compress(ctx, &bad_kind, page, 4096, out, 4096), -EINVAL);
	cr_assert_eq(codec_compress(ctx, &specs[0], page, 0, out, 4096), -EINVAL);
	cr_assert_eq(codec_decompress(ctx, (enum codec_kind)7, out, 10, page, 4096), -EINVAL);
	codec_ctx_free(ctx);
	codec_ctx_free(NULL);
}

struct same_case {
	uint64_t fill;
	int poke; /* byte to change, -1 for none */
	bool same;
};

Test(codec, same_filled_detection)
{
	static const struct same_case cases[] = {
		{ 0, -1, true },
		{ UINT64_C(0x0101010101010101), -1, true },
		{ UINT64_C(0x1122334455667788), -1, true },
		{ UINT64_C(0x1122334455667788), 0, false },
		{ UINT64_C(0x1122334455667788), 4095, false },
		{ UINT64_C(0x1122334455667788), 2048, false },
	};
	uint64_t page[512], word = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (int j = 0; j < 512; j++)
			page[j] = cases[i].fill;
		if (cases[i].poke >= 0)
			((unsigned char *)page)[cases[i].poke] ^= 0x40;
		cr_assert_eq(page_same_filled(page, &word), cases[i].same, "case %zu", i);
		if (cases[i].same)
			cr_assert_eq(word, cases[i].fill);
	}
}
