namespace BuildFarm.Ui.Tests;

public sealed class HeadlessChromiumTests(HeadlessChromium chromium) : IClassFixture<HeadlessChromium>
{
    [Fact]
    public async Task SetContent_RendersAndEvaluatesScript()
    {
        var page = await chromium.Browser.NewPageAsync();
        await page.SetContentAsync("<html><body><p id='x'>hello</p><script>document.getElementById('x').textContent += ' world'</script></body></html>");
        Assert.Equal("hello world", await page.TextContentAsync("#x"));
    }
}
