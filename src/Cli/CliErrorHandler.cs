using System.CommandLine;

namespace BuildFarm.Cli;

/// <summary>
/// Turns the errors a user can cause or fix into one line on stderr (control bytes escaped, see <see cref="TerminalText"/>)
/// and exit code 1; bugs still crash loudly.
/// </summary>
internal static class CliErrorHandler
{
    public static async Task<int> RunAsync(ParseResult result, string command, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is CliError or IOException or UnauthorizedAccessException or FormatException or TimeoutException
                                      or BuildFarm.Store.Nar.NarFormatException or BuildFarm.Store.Local.StoreException)
        {
            await result.InvocationConfiguration.Error.WriteLineAsync($"buildfarm {command}: {TerminalText.Escape(e.Message)}");
            return 1;
        }
    }
}
