# frozen_string_literal: true

require 'spec_helper'

describe 'kask::check_config' do
  it { is_expected.to run.with_params({ 'listen_port' => 8080 }, 'ctx').and_return([]) }
  it { is_expected.to run.with_params({ 'x' => 1, 'cassandra' => { 'y' => 2, 'tls' => { 'z' => 3 } } }, 'ctx').and_return(['x', 'cassandra.y', 'cassandra.tls.z']) }
  it { is_expected.to run.with_params({ 'cassandra' => { 'port' => 'x' } }, 'ctx').and_raise_error(/ctx: config key 'cassandra.port' must be/) }

  it 'accepts the deployment-prep sample config as it is' do
    config = sample_data('deployment-prep.yaml')['profile::docker::runner::service_defs']['mediawiki-services-kask']['config']
    is_expected.to run.with_params(config, 'ctx').and_return([])
  end
end
