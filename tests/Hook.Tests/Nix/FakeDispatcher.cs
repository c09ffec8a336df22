using System.Net;
using System.Text;
using System.Text.Json;
using BuildFarm.Hook.Farm;
using BuildFarm.Testing;

namespace BuildFarm.Hook.Tests.Nix;

/// <summary>
/// The two hook routes with scripted answers, on a free loopback port, so that the real nix-build can drive the
/// real hook binary through every reply without a farm. It records when a build stream's client went away.
/// </summary>
internal sealed class FakeDispatcher : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public FakeDispatcher(Func<HookDecideRequest, HookDecideResponse> decide, Func<HttpListenerResponse, Task>? build = null)
    {
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    try
                    {
                        if (ctx.Request.Url!.AbsolutePath == "/api/hook/decide")
                        {
                            var body = await JsonSerializer.DeserializeAsync<HookDecideRequest>(ctx.Request.InputStream, Json);
                            lock (Decisions)
                                Decisions.Add(body!);
                            var bytes = JsonSerializer.SerializeToUtf8Bytes(decide(body!), Json);
                            ctx.Response.ContentType = "application/json";
                            await ctx.Response.OutputStream.WriteAsync(bytes);
                        }
                        else if (build is not null)
                        {
                            ctx.Response.SendChunked = true;
                            await build(ctx.Response);
                        }

                        ctx.Response.Close();
                    }
                    catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
                    {
                        StreamBroken.TrySetResult();
                    }
                });
            }
        });
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public List<HookDecideRequest> Decisions { get; } = [];

    /// <summary>Completes when writing to a build stream failed: its client (the hook) is gone.</summary>
    public TaskCompletionSource StreamBroken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task WriteEventAsync(HttpListenerResponse response, HookBuildEvent e)
    {
        await response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(e, Json) + "\n"));
        await response.OutputStream.FlushAsync();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
