using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Tests.Api.Auth;

public sealed class BrowserGuardTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("/ui/app.js")]
    [InlineData("/api/workers")]
    [InlineData("/api/builds/00000000-0000-0000-0000-000000000001")]
    [InlineData("/login")]
    public async Task AnyResponse_CarriesCspFrameAndSniffHeaders(string path)
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();

        using var response = await client.GetAsync(path);

        Assert.Equal(BrowserGuard.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("frame-ancestors 'none'", BrowserGuard.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("same-origin", response.Headers.GetValues("Referrer-Policy").Single());
    }

    [Fact]
    public async Task Unauthorized_StillCarriesTheHeaders()
    {
        await using var h = await UiHarness.StartAsync("tok");
        using var client = h.Client();

        using var response = await client.GetAsync("/api/workers");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [Theory]
    [InlineData("evil.example")]
    [InlineData("evil.example:8080")]
    [InlineData("127.0.0.2")]
    public async Task UnknownHost_421WithMessage_AndNothingRuns(string host)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/workers/w1/pause");
        request.Headers.Host = host;

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
        Assert.Contains("Ui:AllowedHosts", (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error, StringComparison.Ordinal);
        Assert.Empty(h.WorkerControl.Commands);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]")]
    [InlineData("farm.example.com")]
    public async Task KnownHost_Answers(string host)
    {
        await using var h = await UiHarness.StartAsync(config: new Dictionary<string, string?> { ["Ui:AllowedHosts"] = "farm.example.com, 10.0.0.5" });
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/workers");
        request.Headers.Host = host + ":" + new Uri(h.BaseUrl).Port;

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AllowedHostsStar_AnyHostAnswers()
    {
        await using var h = await UiHarness.StartAsync(config: new Dictionary<string, string?> { ["Ui:AllowedHosts"] = "*" });
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/workers");
        request.Headers.Host = "anything.example";

        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
    }

    [Theory]
    [InlineData("Origin", "http://evil.example")]
    [InlineData("Origin", "null")]
    [InlineData("Origin", "null|cross-site")]
    [InlineData("Origin", "https://127.0.0.1:{port}")]
    [InlineData("Origin", "http://127.0.0.1:1")]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    [InlineData("Sec-Fetch-Site", "same-site")]
    [InlineData("Referer", "http://evil.example/attack.html")]
    public async Task StateChange_FromAnotherOrigin_403_AndNothingChanges(string header, string value)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        using var client = h.Client();
        var port = new Uri(h.BaseUrl).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        foreach (var path in new[] { "/api/workers/w1/pause", "/api/workers/w1/drain", "/api/workers/w1/resume", $"/api/builds/{id}/cancel", $"/api/builds/{id}/retry" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(new { }) };
            var parts = value.Replace("{port}", port, StringComparison.Ordinal).Split('|');
            request.Headers.TryAddWithoutValidation(header, parts[0]);
            if (parts.Length > 1)
                request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", parts[1]);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("cross-origin POST refused", (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error, StringComparison.Ordinal);
        }

        Assert.Empty(h.WorkerControl.Commands);
        var view = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        Assert.Equal("queued", view.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Origin", "self")]
    [InlineData("Sec-Fetch-Site", "same-origin")]
    [InlineData("Referer", "self")]
    [InlineData("Origin", "null")]
    public async Task StateChange_SameOriginOrNoBrowserHeaders_Passes(string? header, string? value)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/workers/w1/pause") { Content = JsonContent.Create(new { }) };
        if (header is not null)
            request.Headers.TryAddWithoutValidation(header, value == "self" ? h.BaseUrl + (header == "Referer" ? "/#/workers" : "") : value);
        if (value == "null")
            request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "same-origin");

        using var response = await client.SendAsync(request);

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        Assert.Equal(["pause w1"], h.WorkerControl.Commands);
    }

    [Fact]
    public async Task Login_CrossOriginForm_403()
    {
        await using var h = await UiHarness.StartAsync("tok");
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/login") { Content = new FormUrlEncodedContent([new("token", "tok")]) };
        request.Headers.TryAddWithoutValidation("Origin", "http://evil.example");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Theory]
    [InlineData("farm.example.com,10.0.0.5,[::1]", true)]
    [InlineData("*", true)]
    [InlineData("", true)]
    [InlineData("evil host", false)]
    [InlineData("http://farm.example.com", false)]
    public void CheckAllowedHosts_ValidatesEachEntry(string hosts, bool ok)
    {
        var error = BrowserGuard.CheckAllowedHosts(new UiOptions { AllowedHosts = hosts });

        Assert.Equal(ok, error is null);
        if (!ok)
            Assert.Contains("Ui:AllowedHosts", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadAllowedHosts_StartUpRefusedNamingTheKey()
    {
        var config = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Ui:AllowedHosts"] = "farm.example.com,not a host",
        }).Build();

        var errors = BuildFarm.Dispatcher.Hosting.DispatcherRegistration.Validate(config);

        Assert.Contains(errors, e => e.StartsWith("Ui:AllowedHosts entry 'not a host'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("x86_64-linux<script>")]
    [InlineData("<")]
    public async Task Submit_SystemWithAngleBracket_400WithMessage(string system)
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();
        var compiled = await new DerivationSpecCompiler(StoreDirectory.Nix, (_, _) => throw new InvalidOperationException())
            .CompileAsync(new DerivationSpec { Name = "odd", System = "x86_64-linux", Builder = "/bin/sh" }, CancellationToken.None);
        var text = compiled.Aterm.Replace("\"x86_64-linux\"", "\"" + system + "\"", StringComparison.Ordinal);
        Assert.NotEqual(compiled.Aterm, text);

        using var response = await client.PostAsJsonAsync("/api/builds", new { drvPath = compiled.DrvPath.FullPath, drvText = text, waitForCapacity = true });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("system", (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error, StringComparison.OrdinalIgnoreCase);
    }
}
