using System.Diagnostics;
using System.Text;

namespace BuildFarm.Testing;

/// <summary>The outcome of a finished process.</summary>
public sealed record ProcessResult(int ExitCode, byte[] StdoutBytes, string Stderr)
{
    public string Stdout => Encoding.UTF8.GetString(StdoutBytes);

    /// <summary>Throws with the command's stderr when it did not exit 0.</summary>
    public ProcessResult EnsureSuccess(string what)
    {
        if (ExitCode != 0)
            throw new InvalidOperationException($"{what} exited {ExitCode}: {Stderr}");
        return this;
    }
}

/// <summary>Runs a program to completion with arguments passed verbatim (no shell).</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> args,
        byte[]? stdin = null,
        IDictionary<string, string>? environment = null,
        string? workingDirectory = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
                psi.Environment[k] = v;
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
        var stdout = new MemoryStream();
        var outTask = process.StandardOutput.BaseStream.CopyToAsync(stdout, cts.Token);
        var errTask = process.StandardError.ReadToEndAsync(cts.Token);
        if (stdin is not null)
            await process.StandardInput.BaseStream.WriteAsync(stdin, cts.Token);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(cts.Token);
            await outTask;
            var err = await errTask;
            return new ProcessResult(process.ExitCode, stdout.ToArray(), err);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within {timeout ?? TimeSpan.FromMinutes(5)}");
        }
    }

    /// <summary>Runs through <c>/bin/sh -c</c>.</summary>
    public static Task<ProcessResult> ShellAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        RunAsync("/bin/sh", ["-c", script], timeout: timeout, cancellationToken: cancellationToken);
}
