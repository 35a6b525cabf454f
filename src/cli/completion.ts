// `regplane completion bash|zsh`: a completion script built from the command tree, so it never drifts
// from the commands. zsh loads the bash function through bashcompinit.
import type { Command } from "commander";

function words(command: Command): string {
  return [...command.commands.map((c) => c.name()), ...command.options.map((o) => o.long).filter((l): l is string => l !== undefined)].join(" ");
}

/** `case` arms mapping "noun" and "noun verb" to the words that may follow. */
function cases(program: Command): string {
  const lines: string[] = [];
  for (const noun of program.commands) {
    for (const name of [noun.name(), ...noun.aliases()]) lines.push(`    ${JSON.stringify(name)}) next=${JSON.stringify(words(noun))} ;;`);
    for (const verb of noun.commands) {
      for (const n of [noun.name(), ...noun.aliases()]) {
        for (const v of [verb.name(), ...verb.aliases()]) lines.push(`    ${JSON.stringify(`${n} ${v}`)}) next=${JSON.stringify(words(verb))} ;;`);
      }
    }
  }
  return lines.join("\n");
}

/** Every flag that takes a value, so the word after it is not read as a noun or verb. */
function valueFlags(command: Command): string[] {
  const own = command.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
  return [...own, ...command.commands.flatMap(valueFlags)];
}

export function bashCompletion(program: Command): string {
  const globals = program.options.map((o) => o.long).filter(Boolean).join(" ");
  const takesValue = [...new Set(valueFlags(program))].join("|");
  return `# regplane completion for bash: source <(regplane completion bash)
_regplane() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" next word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in ${takesValue}) ((i++)); continue ;; esac
    [[ "$word" == -* ]] && continue
    [[ -z "$path" ]] && path="$word" && continue
    [[ "$path" != *" "* ]] && path="$path $word"
  done
  case "$path" in
    "") next=${JSON.stringify([...program.commands.map((c) => c.name()), "serve", "keys"].join(" "))} ;;
${cases(program)}
    *) next="" ;;
  esac
  COMPREPLY=($(compgen -W "$next ${globals}" -- "$cur"))
}
complete -F _regplane regplane
`;
}

export function zshCompletion(program: Command): string {
  return `#compdef regplane
# regplane completion for zsh: source <(regplane completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program).split("\n").slice(1).join("\n")}`;
}
