/* SPDX-License-Identifier: MIT */
/*
 * config_source.c - the configuration from the file and the --set
 * overrides. A reload goes through here as the start did, so the
 * overrides keep winning over the file and a file is judged by the same
 * rules and messages both times.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_source.h"
#include "log.h"

static int apply_override(struct swapdev_config *config, const char *set)
{
	const char *eq = strchr(set, '=');
	struct config_error error;
	char *key;
	int r;

	if (!eq) {
		log_error("--set %s: expected SECTION.KEY=VALUE", set);
		return -EINVAL;
	}
	key = strndup(set, (size_t)(eq - set));
	if (!key)
		return log_error_errno(-ENOMEM, "--set %s", set);
	r = config_set(config, key, eq + 1, &error);
	free(key);
	if (r < 0)
		log_error("--set: %s", error.message);
	return r;
}

static int load(const struct config_source *source, struct swapdev_config *config,
		bool *ret_file_read)
{
	struct config_error error;
	int r;

	r = config_init(config);
	if (r < 0)
		return log_error_errno(r, "cannot set up the configuration");
	*ret_file_read = false;
	r = config_load_file(config, source->path, &error);
	if (r == -ENOENT && !source->path_explicit) {
		log_info("%s not found: running on the built-in defaults", source->path);
	} else if (r == -ENOENT) {
		log_error("cannot read configuration %s: No such file or directory", source->path);
		return r;
	} else if (r < 0) {
		log_error("%s", error.message);
		return r;
	} else {
		*ret_file_read = true;
	}
	for (size_t i = 0; i < source->n_sets; i++) {
		r = apply_override(config, source->sets[i]);
		if (r < 0)
			return r;
	}
	r = config_validate(config, &error);
	if (r < 0)
		log_error("%s", error.message);
	return r;
}

int config_source_load(const struct config_source *source, struct swapdev_config *config,
		       bool *ret_file_read)
{
	bool file_read;
	int r;

	r = load(source, config, &file_read);
	if (r < 0) {
		config_done(config);
		return r;
	}
	*ret_file_read = file_read;
	return 0;
}
