import { COMMANDS } from './args-ops.ts';

/**
 * `matchmesh completion bash|zsh`: a script completing commands, their
 * options, roles, and node ids (`drain`/`undrain`, read from `matchmesh
 * nodes --json` when a node answers). Install: `source <(matchmesh
 * completion bash)`, or in zsh `source <(matchmesh completion zsh)`.
 */
export function completionScript(shell: 'bash' | 'zsh'): string {
  const commands = Object.keys(COMMANDS).join(' ');
  const cases = Object.entries(COMMANDS)
    .map(([name, words]) => `    ${shell === 'bash' ? `${name})` : `(${name})`} opts="${words.join(' ')}" ;;`)
    .join('\n');
  const roles = 'viewer publisher commentator admin metrics node';
  const nodeIds = `matchmesh nodes --json 2>/dev/null | sed -n 's/^ *"id": "\\([^"]*\\)",*$/\\1/p'`;
  if (shell === 'bash') {
    return `# matchmesh bash completion: source <(matchmesh completion bash)
_matchmesh() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands}" -- "$cur") )
    return
  fi
  if [ "$prev" = "--role" ]; then
    COMPREPLY=( $(compgen -W "${roles}" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  if { [ "$cmd" = drain ] || [ "$cmd" = undrain ]; } && [ "$COMP_CWORD" -eq 2 ] && [[ "$cur" != -* ]]; then
    opts="$(${nodeIds})"
  fi
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _matchmesh matchmesh
`;
  }
  return `#compdef matchmesh
# matchmesh zsh completion: source <(matchmesh completion zsh)
_matchmesh() {
  local cmd opts
  if (( CURRENT == 2 )); then
    compadd -- ${commands}
    return
  fi
  cmd="\${words[2]}"
  if [[ "\${words[CURRENT-1]}" == --role ]]; then
    compadd -- ${roles}
    return
  fi
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  if [[ ( "$cmd" == drain || "$cmd" == undrain ) && CURRENT -eq 3 && "\${words[CURRENT]}" != -* ]]; then
    opts="$(${nodeIds})"
  fi
  compadd -- \${=opts}
}
compdef _matchmesh matchmesh
`;
}
