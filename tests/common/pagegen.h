/* SPDX-License-Identifier: MIT */
/*
 * pagegen.h - deterministic page contents like real anonymous memory, for
 * tests and benchmarks: text-like, structured records, random
 * (incompressible), same-filled and zero pages, chosen from a seed.
 */
#pragma once

#include <stdint.h>
#include <string.h>

enum page_kind {
	PAGE_TEXT,
	PAGE_RECORDS,
	PAGE_RANDOM,
	PAGE_SAME,
	PAGE_ZERO,
	PAGE_KINDS,
};

static inline uint64_t pagegen_next(uint64_t *s)
{
	/* xorshift64*: fast, good enough to be incompressible. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Mix of real anonymous memory: mostly structured data and text, some
 * incompressible, some same-filled (weights out of 100). */
static inline enum page_kind pagegen_pick(uint64_t seed)
{
	unsigned r = (unsigned)(((seed * UINT64_C(0x9E3779B97F4A7C15)) >> 32) % 100);

	if (r < 35)
		return PAGE_RECORDS;
	if (r < 70)
		return PAGE_TEXT;
	if (r < 85)
		return PAGE_RANDOM;
	if (r < 97)
		return PAGE_SAME;
	return PAGE_ZERO;
}

static inline void pagegen_fill_kind(void *page, size_t size, enum page_kind kind, uint64_t seed)
{
	static const char *const words[] = { "the ", "swap ", "page ", "kernel ", "memory ",
					     "of ", "and ", "compressed ", "slot ", "data ",
					     "return ", "struct ", "{ ", "} ", "int ", "\n" };
	uint64_t s = seed * 2 + 1, *w = page;
	unsigned char *p = page;
	size_t i;

	switch (kind) {
	case PAGE_TEXT:
		for (i = 0; i < size;) {
			const char *word = words[pagegen_next(&s) % 16];
			size_t n = strlen(word);

			n = n < size - i ? n : size - i;
			memcpy(p + i, word, n);
			i += n;
		}
		break;
	case PAGE_RECORDS:
		/* 32-byte records: an id, a pointer-like value, small counters. */
		for (i = 0; i + 32 <= size; i += 32) {
			uint64_t r = pagegen_next(&s);
			uint64_t rec[4] = { seed * 1000 + i / 32, UINT64_C(0x00007f3a00000000) | (r & 0xfff0),
					    r & 0xff, (r >> 8) & 0x3 };
			memcpy(p + i, rec, sizeof(rec));
		}
		break;
	case PAGE_RANDOM:
		for (i = 0; i < size / 8; i++)
			w[i] = pagegen_next(&s);
		break;
	case PAGE_SAME: {
		/* Mostly memset-style bytes; some arbitrary 8-byte words. */
		uint64_t r = pagegen_next(&s);
		uint64_t v = r % 4 ? ((r >> 8) & 0xff) * UINT64_C(0x0101010101010101) | 1
				   : pagegen_next(&s) | 1;

		for (i = 0; i < size / 8; i++)
			w[i] = v;
		break;
	}
	default:
		memset(page, 0, size);
		break;
	}
}

static inline void pagegen_fill(void *page, size_t size, uint64_t seed)
{
	pagegen_fill_kind(page, size, pagegen_pick(seed), seed);
}
