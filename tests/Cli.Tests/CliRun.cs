using System.CommandLine;
using BuildFarm.Cli;

namespace BuildFarm.Cli.Tests;

/// <summary>Runs the <c>buildfarm</c> command tree in-process with captured stdout (bytes) and stderr.</summary>
internal static class CliRun
{
    public sealed record Result(int ExitCode, byte[] Stdout, string Stderr)
    {
        public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout).Trim();
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        using var stdout = new MemoryStream();
        await using var output = new StreamWriter(stdout, leaveOpen: true);
        await using var error = new StringWriter();
        var exit = await BuildFarmCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        await output.FlushAsync();
        return new Result(exit, stdout.ToArray(), error.ToString());
    }
}
