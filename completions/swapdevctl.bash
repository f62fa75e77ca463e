# SPDX-License-Identifier: MIT
# bash completion for swapdevctl(8)

_swapdevctl()
{
	local cur prev words cword command i
	local commands="list stats status flush recompress config restart"
	local columns="NAME ALGORITHM DISKSIZE DATA COMPR TOTAL DISK STREAMS MOUNTPOINT PID SOCKET"

	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	case "$prev" in
	-s | --socket)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
		;;
	-o | --output)
		# Complete the column after the last comma, keeping those before.
		local prefix=
		[[ $cur == *,* ]] && prefix=${cur%,*},
		mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$columns" -- "${cur##*,}")
		return 0
		;;
	esac
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		-s | --socket) i=$((i + 1)) ;;
		-*) ;;
		*)
			command=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	case "$command" in
	"")
		mapfile -t COMPREPLY < <(compgen -W "$commands --socket --help --version" -- "$cur")
		;;
	list)
		mapfile -t COMPREPLY < <(compgen -W "--bytes --raw --noheadings --output --json --help" -- "$cur")
		;;
	stats)
		mapfile -t COMPREPLY < <(compgen -W "--json --prometheus --watch --help" -- "$cur")
		;;
	status)
		mapfile -t COMPREPLY < <(compgen -W "--json --help" -- "$cur")
		;;
	flush)
		mapfile -t COMPREPLY < <(compgen -W "--idle --limit --wait --help" -- "$cur")
		;;
	recompress)
		mapfile -t COMPREPLY < <(compgen -W "--idle --wait --help" -- "$cur")
		;;
	restart)
		mapfile -t COMPREPLY < <(compgen -W "--no-wait --timeout --help" -- "$cur")
		;;
	config)
		if [ "$prev" = get ] || [ "$prev" = set ]; then
			mapfile -t COMPREPLY < <(compgen -W "$(swapdevctl config get 2>/dev/null |
				awk '{ print $1 }') --json" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "get set --help" -- "$cur")
		fi
		;;
	esac
	return 0
}
complete -F _swapdevctl swapdevctl
