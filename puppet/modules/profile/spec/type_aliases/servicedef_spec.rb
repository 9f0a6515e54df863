# frozen_string_literal: true

require 'spec_helper'

describe 'Profile::Kask::ServiceDef' do
  it 'takes the deployment-prep entry as it is' do
    is_expected.to allow_value(sample_data('deployment-prep.yaml')['profile::docker::runner::service_defs']['mediawiki-services-kask'])
  end
  it { is_expected.to allow_value('config' => {}, 'ensure' => 'absent') }
  it { is_expected.not_to allow_value('port' => 8080) }
  it { is_expected.not_to allow_value('config' => {}, 'port' => 0) }
  it { is_expected.not_to allow_value('config' => {}, 'ensure' => 'running') }
  it { is_expected.not_to allow_value('config' => {}, 'image' => 'kask') }
end
