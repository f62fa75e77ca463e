/* SPDX-License-Identifier: MIT */
/*
 * backing.h - a scratch backing file for unit tests that need a disk tier:
 * a directory under /var/tmp (a real disk file system, unlike a tmpfs /tmp,
 * so that O_DIRECT works), made by a suite's .init and removed by its .fini.
 */
#pragma once

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char backing_dir[] = "/var/tmp/swapdev-unit-test-XXXXXX";
static char backing_path[PATH_MAX];

static inline void make_backing(void)
{
	cr_assert_not_null(mkdtemp(backing_dir));
	snprintf(backing_path, sizeof(backing_path), "%s/backing", backing_dir);
}

static inline void remove_backing(void)
{
	unlink(backing_path);
	rmdir(backing_dir);
}
