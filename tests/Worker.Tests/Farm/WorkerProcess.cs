using System.Diagnostics;
using System.Text.Json;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>The real <c>buildfarm-worker</c> executable (built next to the tests) as a child process.</summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _dir;
    private readonly System.Text.StringBuilder _output = new();

    private WorkerProcess(Process process, TempDirectory dir)
    {
        _process = process;
        _dir = dir;
    }

    public static string Executable => Path.Combine(AppContext.BaseDirectory, "buildfarm-worker");

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Writes a config like an operator would and returns its path.</summary>
    public static string WriteConfig(TempDirectory dir, string amqpUri, string storeDir, VerifyingKey dispatcherKey, string name, string system, bool allowUnsandboxed = false)
    {
        var signing = SigningKey.Generate(name + "-1");
        SecretKeyFiles.Write(dir.Combine("signing.key"), signing.ToString());
        File.WriteAllText(dir.Combine("dispatchers.pub"), dispatcherKey + "\n");
        var config = new
        {
            Name = name,
            Systems = new[] { system },
            Slots = 1,
            Store = new { StoreDir = storeDir },
            Keys = new { SigningKeyFile = dir.Combine("signing.key"), TrustedDispatcherKeysFile = dir.Combine("dispatchers.pub") },
            Broker = new { Uri = amqpUri },
            HeartbeatInterval = "00:00:01",
            BuildDir = dir.Combine("builds"),
            AllowUnsandboxed = allowUnsandboxed,
            Sandbox = new { ExtraPaths = BuilderScratch.ExtraPaths },
        };
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config));
        return file;
    }

    public static WorkerProcess Start(TempDirectory dir, params string[] args)
    {
        var psi = new ProcessStartInfo(Executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start buildfarm-worker");
        var worker = new WorkerProcess(process, dir);
        process.OutputDataReceived += (_, e) => worker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    public Task SignalAsync(string signal) => ProcessRunner.RunAsync("/bin/kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"buildfarm-worker did not exit within {timeout}; output:\n{Output}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
        _dir.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }
}
