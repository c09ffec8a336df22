using System.CommandLine;
using BuildFarm.Hook;

namespace BuildFarm.Cli.Hook;

/// <summary>
/// <c>buildfarm nix-hook</c> and <c>buildfarm guix-hook</c>: the daemon build hooks that hand builds to the farm
/// (docs/hook.md). The daemon runs them, not people: Nix 2.8 execs its <c>build-hook</c> path with one argument
/// (its verbosity), guix-daemon runs <c>guix offload SYSTEM MAX-SILENT PRINT-TRACE TIMEOUT</c>.
/// </summary>
internal static class HookCommands
{
    public static Command Nix()
    {
        var verbosity = new Argument<string?>("verbosity") { Description = "The daemon's verbosity (Nix passes it; unused)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("nix-hook", "Nix's build hook: set build-hook to a script that runs `buildfarm nix-hook \"$@\"` (docs/hook.md)") { verbosity };
        command.SetAction((_, ct) => HookProcess.RunAsync(HookDialect.Nix, ct));
        return command;
    }

    public static Command Guix()
    {
        var args = new Argument<string[]>("daemon-arguments") { Description = "What guix-daemon passes to `guix offload` (system, max-silent-time, print-build-trace, timeout; unused)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("guix-hook", "guix-daemon's offload hook, speaking `guix offload`'s protocol (docs/hook.md)") { args };
        command.SetAction((_, ct) => HookProcess.RunAsync(HookDialect.Guix, ct));
        return command;
    }
}
