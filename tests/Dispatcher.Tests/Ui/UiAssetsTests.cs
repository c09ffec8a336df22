using System.Net;

namespace BuildFarm.Dispatcher.Tests.Ui;

public sealed class UiAssetsTests
{
    [Fact]
    public async Task Ui_ServesPagesAndAssets()
    {
        await using var h = await UiHarness.StartAsync();
        using var client = h.Client();

        Assert.Contains("<nav", await client.GetStringAsync("/"));
        var js = await client.GetAsync("/ui/app.js");
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/ui/secret.txt")).StatusCode);
    }
}
