using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api.Auth;

public sealed class ApiAuthTests
{
    private const string Token = "s3cret-token";

    [Theory]
    [InlineData("/api/builds")]
    [InlineData("/api/builds/search")]
    [InlineData("/api/workers")]
    [InlineData("/api/classes")]
    [InlineData("/metrics")]
    [InlineData("/ui/app.js")]
    public async Task Get_WithoutToken_401_WithToken_200(string path)
    {
        await using var h = await UiHarness.StartAsync(Token);
        using var anonymous = h.Client();
        using var wrong = h.Client("wrong");
        using var right = h.Client(Token);

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await right.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task EveryMappedRoute_WithoutOrWithWrongToken_401_AndNothingChanges()
    {
        await using var h = await UiHarness.StartAsync(Token);
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        using var anonymous = h.Client();
        using var wrong = h.Client("wrong");
        using var right = h.Client(Token);
        var routes = h.Routes();
        // Every API page, action, metric and asset the dispatcher maps: a new route is covered without editing this test.
        Assert.Contains(("POST", "/api/builds"), routes);
        Assert.Contains(("GET", "/api/workers/probe"), routes);
        Assert.Contains(("POST", "/api/graphs/{id:guid}/cancel"), routes);

        foreach (var (method, pattern) in routes.Where(r => r.Pattern is not ("/health" or "/login")))
        {
            var path = pattern.Replace("{id:guid}", id.ToString(), StringComparison.Ordinal).Replace("{name}", "w1", StringComparison.Ordinal)
                .Replace("{file}", "app.js", StringComparison.Ordinal);
            Assert.DoesNotContain("{", path, StringComparison.Ordinal);
            foreach (var client in new[] { anonymous, wrong })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "GET" ? null : JsonContent.Create(new { }) };
                using var response = await client.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} without the right token: {(int)response.StatusCode}");
            }
        }

        Assert.Empty(h.WorkerControl.Commands);
        var build = await right.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        Assert.Equal("queued", build.GetProperty("state").GetString());
        Assert.Equal(1, (await right.GetFromJsonAsync<JsonElement>("/api/builds/search")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Post_WithoutToken_401_AndNothingSent()
    {
        await using var h = await UiHarness.StartAsync(Token);
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var anonymous = h.Client();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/api/workers/w1/drain", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync($"/api/builds/{Guid.NewGuid()}/cancel", null)).StatusCode);
        Assert.Empty(h.WorkerControl.Commands);
    }

    [Fact]
    public async Task Login_RightToken_SetsCookieThatAuthorizes_WrongToken_401()
    {
        await using var h = await UiHarness.StartAsync(Token);
        var cookies = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = new Uri(h.BaseUrl) };

        var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
        Assert.Contains("name=\"token\"", await page.Content.ReadAsStringAsync());
        var bad = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", "nope")]));
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        var good = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", Token)]));
        Assert.Equal(HttpStatusCode.Redirect, good.StatusCode);
        Assert.Equal("/", good.Headers.Location?.OriginalString);
        var back = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", Token), new("next", "#/build/42")]));
        Assert.Equal("/#/build/42", back.Headers.Location?.OriginalString);
        var elsewhere = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", Token), new("next", "https://evil.example/")]));
        Assert.Equal("/", elsewhere.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/workers")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task Health_IsOpenWithoutToken()
    {
        await using var h = await UiHarness.StartAsync(Token);
        using var anonymous = h.Client();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "", false, true)]
    [InlineData("http://[::1]:8080", "", false, true)]
    [InlineData("http://localhost:8080", "", false, true)]
    [InlineData("http://0.0.0.0:8080", "", false, false)]
    [InlineData("http://*:8080", "", false, false)]
    [InlineData("http://192.168.1.5:8080", "", false, false)]
    [InlineData("http://0.0.0.0:8080", "t", false, true)]
    [InlineData("http://0.0.0.0:8080", "", true, true)]
    public void CheckListen_NonLoopbackWithoutToken_Refused(string url, string token, bool allow, bool ok)
    {
        var error = ApiAuth.CheckListen(url, new UiOptions { Token = token, AllowUnauthenticatedRemote = allow });
        Assert.Equal(ok, error is null);
        if (!ok)
            Assert.Contains("Ui:Token", error);
    }

    [Fact]
    public async Task LoginPost_NotAForm_400AndNoCookie()
    {
        await using var h = await UiHarness.StartAsync(Token);
        using var client = h.Client();

        using var response = await client.PostAsJsonAsync("/login", new { token = Token });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("application/x-www-form-urlencoded", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }
}
