using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using BuildFarm.Hook.Protocol;

namespace BuildFarm.Hook.Farm;

/// <summary>
/// The hook's side of the dispatcher (docs/hook.md): decisions from <c>POST /api/hook/decide</c>, one build through
/// the streaming <c>POST /api/hook/builds</c>. The build belongs to that connection: the daemon kills its hook with
/// SIGKILL (Ctrl-C of nix-build), which closes the socket, and the dispatcher cancels a hook build whose stream
/// closed before the end. No signal handler is needed for that, none could run.
/// </summary>
public sealed class HttpHookFarm(HttpClient http, string url, IStoreValidity? validity) : IHookFarm
{
    /// <summary>The largest .drv the farm reads (the store's <c>DerivationAterm.MaxBytes</c>; the hook does not reference the store).</summary>
    public const int MaxDrvBytes = 32 * 1024 * 1024;

    public static HttpClient CreateHttp(HookSettings settings)
    {
        // No overall timeout: a build streams for as long as it runs; the decision has its own deadline below.
        var http = new HttpClient { BaseAddress = new Uri(settings.Url + "/"), Timeout = Timeout.InfiniteTimeSpan };
        if (settings.Token is { } token)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public static TimeSpan DecideTimeout { get; } = TimeSpan.FromSeconds(10);

    public async Task<HookDecision> DecideAsync(HookCandidate candidate, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(DecideTimeout);
        try
        {
            using var response = await http.PostAsJsonAsync("api/hook/decide", new HookDecideRequest(candidate.System, candidate.Features, candidate.DrvPath), HookJsonContext.Default.HookDecideRequest, deadline.Token);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                return Decline($"the dispatcher at {url} refused the hook's token (401): set \"token\" in the hook config or BUILDFARM_TOKEN");
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                return new HookDecision(HookVerdict.Postpone, "", $"the dispatcher at {url} is not ready (503)");
            if (!response.IsSuccessStatusCode)
                return Decline($"the dispatcher at {url} answered {(int)response.StatusCode} {response.ReasonPhrase} to /api/hook/decide");
            var answer = await response.Content.ReadFromJsonAsync(HookJsonContext.Default.HookDecideResponse, deadline.Token)
                ?? throw new InvalidDataException("empty decision");
            return answer.Verdict switch
            {
                "accept" => new HookDecision(HookVerdict.Accept, answer.Machine, answer.Reason),
                "postpone" => new HookDecision(HookVerdict.Postpone, answer.Machine, answer.Reason),
                _ => new HookDecision(HookVerdict.Decline, answer.Machine, answer.Reason),
            };
        }
        catch (HttpRequestException e)
        {
            return Decline($"cannot reach the dispatcher at {url}: {e.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Decline($"the dispatcher at {url} did not decide within {DecideTimeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
        {
            return Decline($"the dispatcher at {url} gave an unreadable decision: {e.Message}");
        }
    }

    public async Task<HookBuildResult> BuildAsync(string drvPath, IReadOnlyList<string> wantedOutputs, Stream log, CancellationToken cancellationToken)
    {
        // The dispatcher's DrvText form (BuildFarm.Store.Derivations.DrvText, not referenced here to keep the hook
        // small): the ATerm when it is UTF-8, else "base64:" and its bytes, so a Latin-1 attribute arrives unaltered.
        // The dispatcher refuses a .drv over 32 MiB (BuildFarm.Store.Derivations.DerivationAterm.MaxBytes); say so
        // here by its size, rather than read and post it.
        if (File.Exists(drvPath) && new FileInfo(drvPath).Length is var size and > MaxDrvBytes)
            return Failed($"{drvPath} is {size} bytes long, more than the {MaxDrvBytes} bytes (32 MiB) BuildFarm reads");
        var bytes = File.Exists(drvPath) ? await File.ReadAllBytesAsync(drvPath, cancellationToken) : null;
        var drvText = bytes is null ? null
            : System.Text.Unicode.Utf8.IsValid(bytes) ? System.Text.Encoding.UTF8.GetString(bytes) : "base64:" + Convert.ToBase64String(bytes);
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/hook/builds") { Content = JsonContent.Create(new HookBuildRequest(drvPath, drvText), HookJsonContext.Default.HookBuildRequest) };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            return Failed($"cannot reach the dispatcher at {url}: {e.Message}");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
                return Failed($"the dispatcher at {url} refused {drvPath}: {await ErrorTextAsync(response, cancellationToken)}");
            HookBuildEnd? end = null;
            try
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
                while (end is null && await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    if (line.Length == 0)
                        continue;
                    var e = JsonSerializer.Deserialize(line, HookJsonContext.Default.HookBuildEvent);
                    if (e?.Log is { Length: > 0 } text)
                    {
                        await log.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
                        await log.FlushAsync(cancellationToken);
                    }

                    end = e?.End;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
            {
                return Failed($"lost the dispatcher at {url} while {drvPath} was building: {e.Message}");
            }

            if (end is null)
                return Failed($"the dispatcher at {url} closed the build stream of {drvPath} before the end");
            return await FinishAsync(drvPath, wantedOutputs, end, cancellationToken);
        }
    }

    private async Task<HookBuildResult> FinishAsync(string drvPath, IReadOnlyList<string> wantedOutputs, HookBuildEnd end, CancellationToken cancellationToken)
    {
        switch (end.State)
        {
            case "succeeded":
                break;
            case "failed":
                var outcome = end.FailureKind switch { "BuildFailure" => HookOutcome.BuildFailed, "Timeout" => HookOutcome.TimedOut, _ => HookOutcome.Failed };
                return new HookBuildResult(outcome, $"build {end.BuildId} of {drvPath} failed on {end.Worker ?? "the farm"}: {end.Reason}", []);
            default:
                return Failed($"build {end.BuildId} of {drvPath} was {end.State}: {end.Reason}");
        }

        // Nix sends output names, guix-daemon output paths: match either.
        var wanted = end.Outputs.Where(o => wantedOutputs.Count == 0 || wantedOutputs.Contains(o.Name) || wantedOutputs.Contains(o.Path)).Select(o => o.Path).ToArray();
        if (validity is not null)
        {
            var invalid = await validity.InvalidAsync(wanted, cancellationToken);
            if (invalid.Count > 0)
                return Failed($"build {end.BuildId} of {drvPath} succeeded on {end.Worker} but these outputs are not valid in the local store: {string.Join(", ", invalid)}");
        }

        return new HookBuildResult(HookOutcome.Built, $"built on {end.Worker}", wanted);
    }

    private static async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var error) && error.GetString() is { } text)
                return text;
        }
        catch (JsonException)
        {
        }

        return $"{(int)response.StatusCode} {response.ReasonPhrase}";
    }

    private static HookDecision Decline(string reason) => new(HookVerdict.Decline, "", reason);

    private static HookBuildResult Failed(string message) => new(HookOutcome.Failed, message, []);
}
