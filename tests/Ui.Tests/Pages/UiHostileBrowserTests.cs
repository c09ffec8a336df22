using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Testing;
using Microsoft.Playwright;

namespace BuildFarm.Ui.Tests.Pages;

/// <summary>
/// A page of another origin (a tiny HttpListener on another port) opened in the operator's browser tries to change the
/// farm's state with a self-submitting form and no-cors fetches; the dispatcher refuses them and nothing changes.
/// </summary>
public sealed class UiHostileBrowserTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    [Fact]
    public async Task CrossOriginFormAndFetch_Refused_StateUnchanged()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("victim");
        var attack = $$"""
            <!doctype html><html><body>
            <form id="f" method="post" action="{{h.BaseUrl}}/api/builds/{{id}}/cancel"><input name="x" value="1"></form>
            <script>
            Promise.allSettled([
              fetch("{{h.BaseUrl}}/api/workers/w1/pause", { method: "POST", mode: "no-cors", body: "{}" }),
              fetch("{{h.BaseUrl}}/api/builds/{{id}}/retry", { method: "POST", mode: "no-cors", body: "{}" }),
            ]).then(() => { document.title = "fetched"; document.getElementById("f").submit(); });
            </script></body></html>
            """;
        using var evil = AttackerSite.Start(attack);
        var page = await chromium.NewPageAsync();

        await page.GotoAsync(evil.Url);

        // The form navigated to the dispatcher's answer: the request arrived and was refused.
        await Assertions.Expect(page.Locator("body")).ToContainTextAsync("cross-origin POST refused");
        Assert.StartsWith(h.BaseUrl, page.Url, StringComparison.Ordinal);
        using var client = h.Client();
        var view = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        Assert.Equal("queued", view.GetProperty("state").GetString());
        Assert.Empty(h.WorkerControl.Commands);
    }

    [Fact]
    public async Task SameOriginUi_UnderCsp_PausesWorker_AndReportsNoViolation()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var page = await chromium.NewPageAsync();
        var violations = new List<string>();
        page.Console += (_, m) =>
        {
            if (m.Text.Contains("Content Security Policy", StringComparison.Ordinal))
                violations.Add(m.Text);
        };

        var response = await page.GotoAsync(h.BaseUrl + "/#/workers");
        page.Dialog += (_, d) => d.AcceptAsync();
        await page.Locator("button[data-action=pause][data-worker=w1]").ClickAsync();

        Assert.Contains("frame-ancestors 'none'", await response!.HeaderValueAsync("content-security-policy"), StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#msg")).ToContainTextAsync("pause sent to w1");
        Assert.Equal(["pause w1"], h.WorkerControl.Commands);
        Assert.Empty(violations);
    }

    /// <summary>Serves one HTML page at http://127.0.0.1:PORT/ (another origin than the dispatcher's).</summary>
    private sealed class AttackerSite : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly CancellationTokenSource _stop = new();

        private AttackerSite(string html)
        {
            Url = $"http://127.0.0.1:{FreePort.Next()}/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            var body = Encoding.UTF8.GetBytes(html);
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }

                    context.Response.ContentType = "text/html; charset=utf-8";
                    await context.Response.OutputStream.WriteAsync(body);
                    context.Response.Close();
                }
            });
        }

        public string Url { get; }

        public static AttackerSite Start(string html) => new(html);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Close();
            _stop.Dispose();
        }
    }
}
