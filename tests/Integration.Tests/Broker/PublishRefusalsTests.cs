using BuildFarm.Messaging.Broker;
using MassTransit;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client.Exceptions;
using PublishException = RabbitMQ.Client.Exceptions.PublishException;

namespace BuildFarm.Integration.Tests.Broker;

public sealed class PublishRefusalsTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    [Fact]
    public void IsRefusal_NackWrappedByMassTransit_True() =>
        Assert.True(PublishRefusals.IsRefusal(new RabbitMqConnectionException("BasicPublishAsync failed", new PublishException(7, isReturn: false))));

    [Fact]
    public void IsRefusal_ReturnOrOtherFailure_False()
    {
        Assert.False(PublishRefusals.IsRefusal(new PublishException(7, isReturn: true)));
        Assert.False(PublishRefusals.IsRefusal(new RabbitMqConnectionException("Broker unreachable")));
        Assert.False(PublishRefusals.IsRefusal(new OperationCanceledException()));
    }

    [Fact]
    public void ShouldReplace_RefusalsInARow_OncePerInterval()
    {
        var time = new FakeTimeProvider();
        var refusals = new PublishRefusals(time, Interval);
        var nack = new PublishException(1, isReturn: false);

        Assert.True(refusals.ShouldReplace(nack));
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(refusals.ShouldReplace(nack));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(refusals.ShouldReplace(nack));
    }

    [Fact]
    public void ShouldReplace_TimeoutOrReturn_NeverAndDoesNotStartTheInterval()
    {
        var time = new FakeTimeProvider();
        var refusals = new PublishRefusals(time, Interval);

        Assert.False(refusals.ShouldReplace(new TimeoutException()));
        Assert.False(refusals.ShouldReplace(new PublishException(1, isReturn: true)));
        Assert.True(refusals.ShouldReplace(new AggregateException(new PublishException(2, isReturn: false))));
    }

    [Fact]
    public void ShouldReplace_ZeroInterval_EveryRefusal()
    {
        var refusals = new PublishRefusals(new FakeTimeProvider(), TimeSpan.Zero);

        Assert.True(refusals.ShouldReplace(new PublishException(1, isReturn: false)));
        Assert.True(refusals.ShouldReplace(new PublishException(2, isReturn: false)));
    }
}
