/* SPDX-License-Identifier: MIT */
/*
 * config_source.h - where swapdevd's configuration comes from: the file
 * and the --set overrides on top of it, read the same way at start and at
 * every reload.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct config_source {
	const char *path;   /* --config, or the default */
	bool path_explicit; /* --config given: a missing file is an error */
	char **sets;	    /* --set "section.key=value", in command-line order */
	size_t n_sets;
};

/*
 * Fill *config with the embedded defaults, then the file (skipped when the
 * default path does not exist), then the overrides, and validate it. Each
 * error is logged once, as FILE:LINE: key: ... where the file is at fault.
 * *ret_file_read says whether the file was read. Returns 0, or -ENOENT,
 * -EINVAL, -EISDIR, -EBADFD, -ENOMEM with *config freed.
 */
int config_source_load(const struct config_source *source, struct swapdev_config *config,
		       bool *ret_file_read);
